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
