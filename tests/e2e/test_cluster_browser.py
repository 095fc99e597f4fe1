"""Patient and nurse in real Chromium on the nodes of a three-node cluster (tests/support/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.pages import media_path, nurse_admits_next, patient_enters_waiting_room, wait_for_media_growth
from tests.support.cluster import Cluster, Node, book, running_cluster, sign_in


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


async def nurse_on(browser: Browser, node: Node, nodes: Cluster) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{node.url}/consola")
    await page.fill("#username", nodes.demo["username"])
    await page.fill("#password", nodes.demo["password"])
    await page.click("#login button[type=submit]")
    await expect(page.locator("body")).to_have_attribute("data-state", "queue")
    return page


async def admitted(
    browser: Browser, nodes: Cluster, name: str, patient_node: Node, nurse_node: Node
) -> tuple[Page, Page]:
    """A patient booked just now waits on one node; the nurse, signed in on another, admits her."""
    cookie = await sign_in(nurse_node, nodes.demo["username"], nodes.demo["password"])
    _, token = await book(nurse_node, cookie, name)
    nurse = await nurse_on(browser, nurse_node, nodes)
    patient = await (await browser.new_context()).new_page()
    await patient_enters_waiting_room(patient, f"{patient_node.url}/paciente#t={token}")
    # The queue crosses nodes: the check-in made on one node reaches the console on the other.
    await expect(nurse.locator("#queue-rows tr[data-state=waiting]")).to_have_count(1)
    await nurse_admits_next(nurse)
    # And the admission reaches the patient's page.
    await expect(patient.locator("body")).to_have_attribute("data-state", "call")
    return patient, nurse


async def test_a_patient_on_one_node_is_admitted_by_a_nurse_on_another(
    nodes: Cluster, browser: Browser
) -> None:
    patient, nurse = await admitted(browser, nodes, "Paciente Nodo Uno", nodes[1], nodes[2])
    await nurse.click("#end")
    await expect(patient.locator("body")).to_have_attribute("data-state", "ended")


async def test_a_call_on_one_node_flows_through_its_placed_nodes_media_address(
    nodes: Cluster, browser: Browser
) -> None:
    """Both sockets on node 3: the consult's media goes to the one node placement chose (by load,
    not by where the sockets are), through that node's own media address."""
    patient, nurse = await admitted(browser, nodes, "Paciente Nodo Tres", nodes[3], nodes[3])
    await wait_for_media_growth(nurse)
    await wait_for_media_growth(patient)
    placed = (await media_path(patient))[0]
    assert placed == (await media_path(nurse))[0]
    assert placed in {node.media_host for node in nodes.nodes}
    await nurse.click("#end")
    await expect(patient.locator("body")).to_have_attribute("data-state", "ended")


async def test_media_flows_both_ways_between_nodes(nodes: Cluster, browser: Browser) -> None:
    """The patient's socket is on node 1, the nurse's on node 2: the consult's media is placed on
    one node, and both pages send and receive through that node's media address."""
    patient, nurse = await admitted(browser, nodes, "Paciente Medios", nodes[1], nodes[2])
    await wait_for_media_growth(nurse)
    await wait_for_media_growth(patient)
    placed = (await media_path(patient))[0]
    assert placed == (await media_path(nurse))[0]
    assert placed in {node.media_host for node in nodes.nodes}
