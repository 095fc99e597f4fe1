// JSON over the REST API with the staff session cookie: one shape of answer for every page.

/** `{ ok, status, data }`; `data` is `{}` when the answer has no JSON body. Never cached. */
export async function requestJson(method, path, body, { keepalive = false } = {}) {
  const response = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
    cache: "no-store",
    keepalive,
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}
