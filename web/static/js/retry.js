/**
 * Coming back after the server said "later": a retryable connection refusal (`server_busy`, `busy`,
 * `shutting_down`) or a node going away (`server:shutdown`, then it drops the socket). Each page
 * waits `retry_after_s` times a random factor from 0.5 to 1.5, doubling on each further refusal up
 * to 30 s, so thousands of pages that lost one node do not all knock on the others at once.
 * (socket.io's own reconnection after a lost transport is jittered the same way: randomizationFactor 0.5.)
 */

export const RETRYABLE = new Set(["server_busy", "busy", "shutting_down"]);
const MAX_MS = 30000;

/** Milliseconds to wait before retry number `attempt` (0, 1, …). */
export function backoffMs(retryAfterS, attempt, random = Math.random) {
  const base = Math.max(0.5, Number(retryAfterS) || 2) * 1000;
  return Math.round(Math.min(MAX_MS, base * 2 ** attempt) * (0.5 + random()));
}

/**
 * Reconnects `socket` after a retryable refusal or a shutdown; `later(seconds)` schedules one more
 * try (e.g. after a `draining` check-in refusal). `retryable(error)` says whether a
 * `connect_error` was such a refusal (and schedules the retry): the page then shows no error.
 */
export function keepReconnecting(socket) {
  let attempt = 0;
  let timer = null;
  let shutdownAfter = null;
  const later = (seconds) => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      socket.connect();
    }, backoffMs(seconds, attempt++));
  };
  socket.on("connect", () => {
    attempt = 0;
    shutdownAfter = null;
  });
  socket.on("server:shutdown", ({ retry_after_s: after } = {}) => {
    shutdownAfter = after ?? 2;
  });
  socket.on("disconnect", (reason) => {
    // The server dropped us on purpose: only after it said it is going away do we come back by ourselves
    // (a replaced session or a refused person must not).
    if (reason === "io server disconnect" && shutdownAfter !== null) later(shutdownAfter);
  });
  const retryable = (error) => {
    if (!RETRYABLE.has(error?.data?.code)) return false;
    socket.disconnect();
    later(error.data.retry_after_s);
    return true;
  };
  return { later, retryable };
}
