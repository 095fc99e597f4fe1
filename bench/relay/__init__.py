"""Relaying real video through the server: packet forwarding against decode/re-encode, same run.

Real aiortc clients, in their own processes, publish real encoded media (640x480 VP8 at 25 fps,
about 490 kbit/s, keyframe every 2.4 s, plus 32 kbit/s Opus) through the real server
(``web.app.create_app``, media in its worker processes) on loopback, speaking our socket.io
protocol (``bench/relay/participant.py``): staff login, patient check-in, admission,
invitations, ``media:offer`` and the server's subscriber offers. The same load then goes through
a second server that decodes and re-encodes (``TC_MEDIA_FORWARDING=reencode``).

Then ours against Janus (Debian's ``janus``, its videoroom plugin over the HTTP API; our own client
code, ``janus.py``), driven by the same client processes with the same clip and windows,
interleaved step by step with the order alternating between repetitions (``versus.py``): the
slopes of server CPU per 1:1 consult and per fan-out subscriber, their spread over the
repetitions, the ratio ours / Janus of each repetition, frames delivered, audio loss, and the
machine's steal time in every window (``/proc/stat``; large and bursty on shared machines).
Janus gathers no candidate on a loopback interface, so as root the whole run moves into a
network namespace of its own whose one other interface carries 127.0.0.1/32 (``netns.py``).
``--profile`` samples our server's processes with py-spy under the comparison's heaviest load
and prints where the time goes, by function (``profile.py``).

Scenarios, for each server:

* **1 -> N**: the nurse publishes; the patient and invitees only receive (N = 1..7). Server CPU
  per extra subscriber is the least-squares slope of server CPU over N.
* **K 1:1 consults**: nurse and patient both publish and receive; K grows until the machine can
  no longer generate the load cleanly. CPU per consult = server CPU / K.
* **Late joiners**: an interpreter joins a running consult (at the largest K) and decodes; time
  from its ``media:offer`` to a decoded frame from every publisher in the room, with the steps
  in between.

What is measured, and how:

* **Server CPU** is the server's own: utime+stime of the server process and its descendants
  (the media workers), from ``/proc`` (per-thread ``schedstat`` nanoseconds when no thread ended
  in the window, else the tick-rounded process totals), over a steady window after joins
  settled. "% of a core" = CPU seconds / wall seconds. Machine-wide busy time is printed beside
  it, split into server, our clients and everything else, to show how noisy the run was.
* **Frames delivered** are counted exactly: every publisher varies its frame spacing a little
  (40 ms +- 4 ms, as a camera does), so the RTP timestamps a subscriber sees, which are the
  publisher's plus a constant per subscription (give or take a tick or two of rounding in the
  re-encoder), identify each frame. A frame sent in the window counts as delivered if it
  arrived complete (every packet, from a packet that starts the frame to the marker) within
  0.5 s after the window. Audio: packets that arrived in the window over packets sent in it.
* **Decode errors**: most subscribers only count packets (``media.aiortc_seam.ReceiverTap``, so
  their receiver reports and REMB still flow) because decoding 640x480 for every one of them
  would starve the server of CPU; a sample (the 1 -> N patient, some consults' patients, every
  late joiner) also decodes through aiortc's own path, and every "failed to decode" aiortc logs
  there is an error.
* **Added latency per hop**: per frame, from the publisher handing it to its RTP sender to the
  subscriber receiving its last packet (all processes read the same ``CLOCK_MONOTONIC``). The
  same clients also run one direct publisher -> subscriber pair, no server, during every window;
  the server's added latency is the median through the server minus the median of that direct
  pair in the same window, so the clients' own send/receive paths and the load cancel out.

The publishers do not encode: each client process reads the pre-encoded clip (made once with
PyAV, cached in the temp directory) into memory and loops it, pacing frames by wall clock with
timestamps that keep increasing. aiortc's ``MediaPlayer(loop=True, decode=False)`` is not used:
after its first pass it restarts presentation times at 0, so its throttle stops waiting and the
whole file is sent as fast as it can be read. A publisher asked for a keyframe (PLI/FIR, which
aiortc ignores for pre-encoded input) skips ahead to the clip's next keyframe, as a browser's
encoder would send a fresh one.

    python -m bench.relay [--quick] [--profile] [--no-janus] [--window S] [--client-processes 2]
                          [--media-workers N]

``--quick`` (two or three minutes) runs fewer steps with 3-second windows and one repetition
against Janus; the last line printed is one JSON object with the figures, among them
``cpu_pct_per_consult``, ``janus_cpu_pct_per_consult`` and ``ratio_to_janus_per_consult``.

The modules, one concept each: ``clip`` (the pre-encoded clip), ``sources`` (what a publisher
sends), ``counting`` (what the clients count and report), ``participant`` (one aiortc participant
speaking our protocol), ``load_client`` and ``client_process`` (the load-generating processes
and the orchestrator's handle on them), ``server`` (the servers under test), ``janus`` (Janus's
configuration and API), ``netns`` (the namespace), ``cpu`` (CPU time and steal from ``/proc``),
``measure`` (frames, loss, latency, CPU slopes), ``scenarios`` (1 -> N, K consults, late
joiners), ``versus`` (ours against Janus), ``profile`` (py-spy), ``report`` (the printed summary
and the JSON line).
"""
