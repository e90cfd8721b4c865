// One GET /events stream for the whole page (no polling). Views subscribe to the kinds they show; each
// (re)connection tells them "open", so they read the current state once, then follow the events.
import {api} from "./api.js";

const handlers = new Map();  // kind -> Set of functions
let source = null;

export function on(kind, handler) {
  if (!handlers.has(kind)) handlers.set(kind, new Set());
  handlers.get(kind).add(handler);
  return () => handlers.get(kind).delete(handler);
}

function emit(kind, data) {
  for (const handler of [...(handlers.get(kind) || [])]) handler(data);
}

export function connect() {
  source = new EventSource("/events");
  source.onopen = () => emit("open", null);
  for (const kind of ["created", "progress", "epoch", "status", "sweep"]) {
    source.addEventListener(kind, (event) => emit(kind, JSON.parse(event.data)));
  }
  source.onerror = async () => {
    if (source.readyState !== EventSource.CLOSED) return;  // the browser is reconnecting by itself
    // Refused: a session that expired (or a key that changed) shows the sign-in page; else try again soon.
    const session = await api("/session").catch(() => null);
    if (session && session.key_required && !session.signed_in) { location.reload(); return; }
    setTimeout(connect, 5000);
  };
}

export const isOpen = () => source !== null && source.readyState === EventSource.OPEN;

// A view's state, read once per (re)connection and then kept current by `handlers` (kind -> function). Events
// that arrive while the read is on its way are held and applied after it, in their order: a reply made before
// them never overwrites what they told (a job would stay "queued" after its "status" came first).
// Where the stream is open already, it reads at once: what came before the view subscribed is read then.
export function readThenFollow(read, handlers) {
  let reading = 0, held = [];
  const offs = Object.entries(handlers).map(([kind, apply]) =>
    on(kind, (data) => (reading ? held.push(() => apply(data)) : apply(data))));
  const load = async () => {
    reading += 1;
    try { await read(); } finally {
      reading -= 1;
      if (!reading) {  // the last read in flight has answered: now what came meanwhile
        const later = held;
        held = [];
        later.forEach((apply) => apply());
      }
    }
  };
  offs.push(on("open", load));
  if (isOpen()) load();
  return () => offs.forEach((off) => off());
}
