// The unit's dashboard for supervisors and coordinators (GET /api/units/{unit}/dashboard).
// Figures and first names only; every fetch is audited by the server. The page fetches again when
// the unit's socket room says something changed (throttled), and every 30 s for the clocks.
// Charts: uPlot (MIT), loaded by the page as a classic script (window.uPlot), from node_modules.
import { io } from "/static/vendor/socket.io.esm.min.js";
import {
  applyTranslations,
  currentLanguage,
  formatTime,
  installLanguageSwitch,
  t,
  viewerTimeZone,
  zoneName,
} from "/static/js/i18n.js";
import { requestJson as api } from "/static/js/http.js";

const uPlot = window.uPlot;
const $ = (id) => document.getElementById(id);
const LEVELS = ["good", "fair", "poor", "bad"];
const NURSE_STATES = ["available", "in_consult", "wrap_up", "away"];
const MIN_GAP_MS = 3000; // at most one fetch per 3 s, however busy the unit is
const CLOCK_MS = 30000;
const INK = "#1b1f24";
const GRID = "#d5dcd9";
const GREEN = "#0b6e4f";
const RED = "#8a1c14";

let staff = null;
let board = null;
let socket = null;
let clock = null;
let pending = null;
let lastFetch = 0;
const charts = { waits: null, quality: null };

function setStatus(key) {
  $("status").hidden = !key;
  $("status").textContent = key ? t(key) : "";
}

function show(state) {
  document.body.dataset.state = state;
  $("login").hidden = state !== "login";
  $("dashboard").hidden = state !== "ready";
  $("not-for-you").hidden = state !== "forbidden";
  $("sign-out").hidden = state === "login";
  if (state === "login") $("who").textContent = "";
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return t("supervision.minutes").replace("{n}", minutes);
  const rest = String(minutes % 60).padStart(2, "0");
  return t("supervision.hours_minutes").replace("{h}", Math.floor(minutes / 60)).replace("{m}", rest);
}

function hourLabel(epochSeconds) {
  const locale = currentLanguage() === "es" ? "es-MX" : "en-US";
  return new Intl.DateTimeFormat(locale, { hour: "numeric" }).format(new Date(epochSeconds * 1000));
}

function rows(tbody, lines, table) {
  const labels = [...table.querySelectorAll("th")].map((th) => th.textContent);
  tbody.replaceChildren(
    ...lines.map(({ cells, attributes = {}, cellAttributes = [] }) => {
      const tr = document.createElement("tr");
      for (const [name, value] of Object.entries(attributes)) tr.setAttribute(name, value);
      cells.forEach((text, column) => {
        const td = document.createElement("td");
        td.dataset.label = labels[column] ?? "";
        td.textContent = text;
        for (const [name, value] of Object.entries(cellAttributes[column] ?? {})) td.setAttribute(name, value);
        tr.append(td);
      });
      return tr;
    }),
  );
}

function waitingStatus(patient) {
  const state = t(patient.absent ? "queue.absent" : patient.connected ? "queue.connected" : "queue.reconnecting");
  return patient.urgent ? `${state} · ${t("supervision.urgent")}` : state;
}

function renderFigures() {
  $("unit-name").textContent = board.unit;
  $("zone").textContent = zoneName(board.zone);
  $("updated").textContent = formatTime(board.at);
  $("count-waiting").textContent = board.waiting.length;
  $("count-live").textContent = board.in_consult.length;
  for (const state of NURSE_STATES) $(`nurses-${state}`).textContent = board.nurses[state] ?? 0;
  const a = board.appointments;
  $("appointments-total").textContent = Object.values(a).reduce((sum, n) => sum + n, 0);
  $("appointments-seen").textContent = (a.completed ?? 0) + (a.admitted ?? 0);
  $("no-shows").textContent = board.no_shows;
  $("appointments-cancelled").textContent = a.cancelled ?? 0;
  $("wait-median").textContent = duration(board.waits_today.median_seconds);
  $("wait-p90").textContent = duration(board.waits_today.p90_seconds);
}

function renderTables() {
  $("waiting-empty").hidden = board.waiting.length > 0;
  $("waiting-table").hidden = board.waiting.length === 0;
  rows(
    $("waiting-rows"),
    board.waiting.map((patient) => ({
      cells: [patient.first_name || "—", formatTime(patient.appointment_start), duration(patient.waited_seconds), waitingStatus(patient)],
      attributes: { "data-urgent": String(patient.urgent) },
    })),
    $("waiting-table"),
  );
  $("live-empty").hidden = board.in_consult.length > 0;
  $("live-table").hidden = board.in_consult.length === 0;
  rows(
    $("live-rows"),
    board.in_consult.map((call) => ({
      cells: [
        call.first_name || "—",
        call.since ? formatTime(call.since) : "—",
        duration(call.duration_seconds),
        t(`supervision.quality.${call.quality ?? "none"}`),
      ],
      cellAttributes: [{}, {}, {}, { "data-quality": call.quality ?? "none" }],
    })),
    $("live-table"),
  );
  const hours = board.waits_by_hour.filter((hour) => hour.count > 0);
  rows(
    $("waits-rows"),
    hours.map((hour) => ({
      cells: [formatTime(hour.start), String(hour.count), duration(hour.median_seconds), duration(hour.p90_seconds)],
    })),
    $("waits-rows").closest("table"),
  );
  rows(
    $("quality-rows"),
    LEVELS.map((level) => ({ cells: [t(`supervision.quality.${level}`), String(board.quality[level] ?? 0)] })),
    $("quality-rows").closest("table"),
  );
}

// -- charts (uPlot) ----------------------------------------------------------------------------

function axis(extra = {}) {
  return { stroke: INK, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 }, ...extra };
}

function waitsData() {
  const epoch = (iso) => Date.parse(iso) / 1000;
  const minutes = (seconds) => (seconds === null ? null : Math.round(seconds / 6) / 10);
  return [
    board.waits_by_hour.map((hour) => epoch(hour.start) + 1800), // mid-hour: the point sits in its hour
    board.waits_by_hour.map((hour) => minutes(hour.median_seconds)),
    board.waits_by_hour.map((hour) => minutes(hour.p90_seconds)),
  ];
}

function qualityData() {
  return [LEVELS.map((_, index) => index), LEVELS.map((level) => board.quality[level] ?? 0)];
}

/** Today, in epoch seconds: read at every redraw, so the axis moves on at midnight. */
function day() {
  return [Date.parse(board.day.start) / 1000, Date.parse(board.day.end) / 1000];
}

function waitsOptions(width) {
  return {
    width,
    height: 220,
    legend: { show: false },
    cursor: { show: false },
    scales: {
      x: { time: true, range: day },
      y: { range: (_, min, max) => [0, Math.max(10, Math.ceil((max ?? 0) / 5) * 5)] },
    },
    axes: [axis({ space: 64, values: (_, splits) => splits.map(hourLabel) }), axis({ label: "min", size: 48 })],
    series: [
      {},
      { label: t("supervision.median"), stroke: GREEN, width: 2, points: { show: true, size: 8, fill: GREEN } },
      { label: t("supervision.p90"), stroke: RED, width: 2, dash: [6, 4], points: { show: true, size: 8, fill: RED } },
    ],
  };
}

function qualityOptions(width) {
  return {
    width,
    height: 220,
    legend: { show: false },
    cursor: { show: false },
    scales: {
      x: { time: false, range: () => [-0.5, LEVELS.length - 0.5] },
      y: { range: (_, min, max) => [0, Math.max(5, Math.ceil((max ?? 0) * 1.1))] },
    },
    axes: [
      axis({
        grid: { show: false },
        splits: () => LEVELS.map((_, index) => index),
        values: (_, splits) => splits.map((index) => t(`supervision.quality.${LEVELS[index]}`)),
      }),
      axis({ size: 48 }),
    ],
    series: [
      {},
      {
        label: t("supervision.samples"),
        stroke: GREEN,
        fill: GREEN,
        points: { show: false },
        paths: uPlot.paths.bars({ size: [0.6, 72] }),
      },
    ],
  };
}

function describeCharts() {
  const today = board.waits_today;
  $("waits-chart").setAttribute(
    "aria-label",
    t("supervision.waits_summary")
      .replace("{n}", today.count)
      .replace("{median}", duration(today.median_seconds))
      .replace("{p90}", duration(today.p90_seconds)),
  );
  const quality = board.quality;
  let summary = t("supervision.quality_summary").replace(
    "{n}",
    LEVELS.reduce((sum, level) => sum + (quality[level] ?? 0), 0),
  );
  for (const level of LEVELS) summary = summary.replace(`{${level}}`, quality[level] ?? 0);
  $("quality-chart").setAttribute("aria-label", summary);
}

function drawCharts({ rebuild = false } = {}) {
  describeCharts();
  const specs = [
    ["waits", $("waits-chart"), waitsOptions, waitsData],
    ["quality", $("quality-chart"), qualityOptions, qualityData],
  ];
  for (const [name, container, options, data] of specs) {
    if (charts[name] && !rebuild) {
      charts[name].setData(data());
      continue;
    }
    charts[name]?.destroy();
    charts[name] = new uPlot(options(container.clientWidth), data(), container);
  }
}

const resizing = new ResizeObserver(() => {
  for (const [name, id] of [["waits", "waits-chart"], ["quality", "quality-chart"]]) {
    const width = $(id).clientWidth;
    if (charts[name] && width > 0 && width !== charts[name].width) charts[name].setSize({ width, height: 220 });
  }
});

// -- fetching ----------------------------------------------------------------------------------

function render() {
  if (!board) return;
  renderFigures();
  renderTables();
  drawCharts();
}

async function load() {
  lastFetch = Date.now();
  const path = `/api/units/${encodeURIComponent(staff.unit)}/dashboard?zone=${encodeURIComponent(viewerTimeZone())}`;
  let reply;
  try {
    reply = await api("GET", path);
  } catch {
    return setStatus("error.network");
  }
  if (reply.status === 401) return stop("login");
  if (reply.status === 403) return stop("forbidden");
  if (!reply.ok) return setStatus("error.generic");
  board = reply.data;
  setStatus(null);
  if (document.body.dataset.state !== "ready") show("ready");
  render();
  document.body.dataset.updated = board.at;
}

/** Fetch again soon: at once if the last fetch is old enough, else when it is (one pending at most). */
function soon() {
  if (pending) return;
  const wait = Math.max(0, lastFetch + MIN_GAP_MS - Date.now());
  pending = setTimeout(async () => {
    await load();
    pending = null;
  }, wait);
}

function connect() {
  socket = io({ transports: ["websocket", "polling"] });
  socket.on("connect", soon); // also after a reconnection: whatever changed meanwhile
  socket.on("dashboard:changed", soon);
  socket.on("connect_error", (error) => {
    if (["busy", "shutting_down"].includes(error.data?.code)) {
      setTimeout(() => socket.connect(), (Number(error.data.retry_after_s) || 2) * 1000 + Math.random() * 2000);
    } else if (error.data?.code) stop("login");
  });
}

function stop(state) {
  clearInterval(clock);
  clock = null;
  clearTimeout(pending);
  pending = null;
  socket?.disconnect();
  socket = null;
  show(state);
}

async function start(me) {
  staff = me;
  $("who").textContent = `${me.full_name} · ${t(`role.${me.role}`)}`;
  show("loading");
  await load();
  if (document.body.dataset.state !== "ready") return;
  connect();
  clock = setInterval(soon, CLOCK_MS);
  resizing.observe($("dashboard"));
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const credentials = { username: $("username").value, password: $("password").value };
  $("password").value = "";
  let reply;
  try {
    reply = await api("POST", "/api/session", credentials);
  } catch {
    return setStatus("login.error.network");
  }
  if (!reply.ok) {
    const code = reply.data.error?.code;
    const key = `login.error.${code}`;
    $("status").hidden = false;
    $("status").textContent = (t(key) === key ? t("login.error.generic") : t(key)).replace(
      "{seconds}",
      reply.data.error?.retry_after ?? "",
    );
    return;
  }
  setStatus(null);
  await start(reply.data);
});

$("sign-out").addEventListener("click", async () => {
  stop("login");
  board = null;
  await api("DELETE", "/api/session");
});

applyTranslations();
installLanguageSwitch($("lang"), () => {
  if (staff) $("who").textContent = `${staff.full_name} · ${t(`role.${staff.role}`)}`;
  if (board) {
    renderFigures();
    renderTables();
    drawCharts({ rebuild: true });
  }
});
const session = await api("GET", "/api/session");
if (session.ok && session.data.signed_in) await start(session.data);
else show("login");
