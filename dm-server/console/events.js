// The admin API's event stream (GET /admin/events, Server-Sent Events)
// read with fetch: EventSource cannot send the Authorization header. After
// a cut the stream is reopened with Last-Event-ID, so that the server
// sends what happened meanwhile; `events.lost` means it could not, and the
// view reloads what it shows.

import {ApiError, authorization} from './api.js';

const FIRST_DELAY_MS = 500;
const LAST_DELAY_MS = 15000;
const POLL_MS = 5000;

/** Reads SSE from a byte stream, calling `dispatch(event)` per event. */
export async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = {id: null, type: 'message', data: []};
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    // Lines end with CRLF, LF or CR; the last piece may be incomplete.
    const lines = buffer.split(/\r\n|\n|\r(?!$)/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === '') {
        if (event.data.length > 0 || event.type !== 'message') {
          dispatch({id: event.id, type: event.type, data: event.data.join('\n')});
        }
        event = {id: null, type: 'message', data: []};
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? '' : line.slice(colon + 1);
      if (text.startsWith(' ')) text = text.slice(1);
      if (name === 'data') event.data.push(text);
      else if (name === 'event') event.type = text;
      else if (name === 'id' && !text.includes('\0')) event.id = text;
    }
  }
}

/**
 * Follows the events matching `filter` ({kinds: [...], devId}) until
 * `stop()`: `onEvent({id, kind, data})` per event (data parsed), `onState`
 * with 'connecting', 'live', 'reconnecting', 'polling' (the server has no
 * event stream: `onEvent({kind: 'poll'})` every few seconds instead) or
 * 'stopped'. Returns `stop`.
 */
export function follow(filter, onEvent, onState = () => {}) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  let timer = null;
  const params = new URLSearchParams();
  if (filter.kinds && filter.kinds.length) params.set('kinds', filter.kinds.join(','));
  if (filter.devId) params.set('dev_id', filter.devId);
  const url = `/admin/events${params.toString() ? `?${params}` : ''}`;

  const wait = (ms) => new Promise((resolve) => { timer = setTimeout(resolve, ms); });

  const deliver = (raw) => {
    if (raw.id !== null) lastId = raw.id;
    let data = null;
    try {
      data = raw.data ? JSON.parse(raw.data) : null;
    } catch {
      return;
    }
    onEvent({id: raw.id, kind: raw.type, data});
  };

  const run = async () => {
    let delay = FIRST_DELAY_MS;
    onState('connecting');
    while (!stopped) {
      controller = new AbortController();
      try {
        const headers = authorization({Accept: 'text/event-stream'});
        if (lastId !== null) headers['Last-Event-ID'] = lastId;
        const response = await fetch(url, {
          headers, signal: controller.signal, cache: 'no-store', credentials: 'omit',
        });
        if (response.status === 401) {
          window.dispatchEvent(new CustomEvent('dm:unauthorized', {detail: 'signed out'}));
          return;
        }
        if (response.status === 404 || response.status === 405) {
          // A server without events: the view reloads now and then.
          onState('polling');
          while (!stopped) {
            await wait(POLL_MS);
            if (!stopped) onEvent({id: null, kind: 'poll', data: null});
          }
          return;
        }
        if (!response.ok || !response.body) throw new ApiError(response.status, response.statusText);
        onState('live', {resumed: lastId !== null});
        if (lastId === null) onEvent({id: null, kind: 'connected', data: null});
        delay = FIRST_DELAY_MS;
        await readEvents(response.body, deliver);
      } catch (error) {
        if (stopped) return;
      }
      if (stopped) return;
      onState('reconnecting');
      await wait(delay);
      delay = Math.min(delay * 2, LAST_DELAY_MS);
    }
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
    onState('stopped');
  };
}
