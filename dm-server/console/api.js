// The admin API as the signed-in operator: the key stays in this tab's
// sessionStorage and goes in the Authorization header of each request.

const KEY = 'dm-console-key';

/** The key or token signed in with ('' in dev mode), or null. */
export function credential() {
  return sessionStorage.getItem(KEY);
}

export function signIn(key) {
  sessionStorage.setItem(KEY, key);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** A refusal of the admin API: its status and its `error` message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The headers of a request as the signed-in operator. */
export function authorization(headers = {}) {
  const key = credential();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

/**
 * One admin request: the JSON answer (null for 204), or an ApiError with
 * the server's message. A 401 signs the operator out.
 */
export async function api(method, path, body) {
  const headers = authorization({Accept: 'application/json'});
  const init = {method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `the server cannot be reached (${error.message})`);
  }
  const text = await response.text();
  let value = null;
  if (text) {
    try {
      value = JSON.parse(text);
    } catch {
      value = {error: text.slice(0, 200)};
    }
  }
  if (!response.ok) {
    const message = value && typeof value.error === 'string' ? value.error : response.statusText;
    if (response.status === 401) {
      window.dispatchEvent(new CustomEvent('dm:unauthorized', {detail: message}));
    }
    throw new ApiError(response.status, message);
  }
  return value;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const remove = (path) => api('DELETE', path);

/** A DevID (or other id) as one path segment. */
export function segment(text) {
  return encodeURIComponent(text);
}

/** A query string of the given members (empty ones left out). */
export function query(members) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(members)) {
    if (value !== null && value !== undefined && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Scopes in order: an operator may do what a reader may, and more. */
const SCOPES = ['read', 'operator', 'admin'];

let scope = 'read';

export function setScope(given) {
  scope = SCOPES.includes(given) ? given : 'read';
}

/** Whether the signed-in key's scope allows what needs `needed`. */
export function can(needed) {
  return SCOPES.indexOf(scope) >= SCOPES.indexOf(needed);
}
