// Checks a command before it is queued, the way the server will (the
// Package#2 array form, docs/protocol.md section 4): the name, the number
// of parameters and the kind of each. The server checks again and its
// message is shown when it refuses.

const CLIENT = 'ClientURI';
const SERVER = 'ServerURI';
const MOID = 'MOID';

/**
 * The commands an operator may queue (END and CONT are the server's own):
 * the kinds of the parameters, the last repeated when `more` is set.
 */
export const COMMANDS = {
  GET: {params: [CLIENT], more: true, help: 'ClientURIs to read'},
  HGET: {params: [SERVER, CLIENT], optional: 1, help: 'the repository URI, then optionally where to write'},
  HPUT: {params: [SERVER, CLIENT], more: true, help: 'the repository URI, then ClientURIs to send'},
  HPOST: {params: [SERVER, CLIENT], more: true, help: 'the repository URI, then ClientURIs to send'},
  DELETE: {params: [CLIENT], more: true, help: 'ClientURIs to delete'},
  EXEC: {params: [CLIENT, SERVER], optional: 1, help: 'the node to execute, then optionally where to report'},
  SHOW: {params: [SERVER], help: 'the URI of a page to show'},
  DEFAULT: {params: [MOID, SERVER], help: 'the MOID, then the URI of its default data'},
  SUB: {params: [CLIENT, SERVER], help: 'the node to watch, then where to report changes'},
  UNSUB: {params: [CLIENT], help: 'the node to stop watching'},
};

function check(kind, text, position) {
  if (!text || /\s/.test(text)) {
    return `parameter ${position} must be one ${kind} without spaces`;
  }
  if (kind === CLIENT && !/^urn:[^/]+\/.*$/.test(text)) {
    return `parameter ${position} must be a ClientURI (urn:<MOID>/<MIID or empty>/<path>), not "${text}"`;
  }
  if (kind === SERVER && !/^https?:\/\/[^/?#]+/i.test(text)) {
    return `parameter ${position} must be an absolute http(s) URI, not "${text}"`;
  }
  if (kind === MOID && !/^urn:[^/]+$/.test(text)) {
    return `parameter ${position} must be a MOID (urn:…, no "/"), not "${text}"`;
  }
  return null;
}

/**
 * The command's array form from its name and its parameters (one per
 * line), or `{error}` saying what is wrong.
 */
export function parseCommand(name, paramsText, useCache = false) {
  const spec = COMMANDS[name];
  if (!spec) return {error: `${name || 'no command'} is not a command the server queues`};
  const params = paramsText.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const required = spec.params.length - (spec.optional || 0);
  if (params.length < required) {
    return {error: `${name} needs ${required === spec.params.length && !spec.more ? 'exactly' : 'at least'} ${required} parameter${required === 1 ? '' : 's'} (${spec.help})`};
  }
  if (!spec.more && params.length > spec.params.length) {
    return {error: `${name} takes at most ${spec.params.length} parameter${spec.params.length === 1 ? '' : 's'} (${spec.help})`};
  }
  for (let i = 0; i < params.length; i += 1) {
    const kind = spec.params[Math.min(i, spec.params.length - 1)];
    const problem = check(kind, params[i], i + 1);
    if (problem) return {error: `${name}: ${problem}`};
  }
  if (useCache && name !== 'GET') return {error: 'only a GET can use the cache'};
  const body = {command: [name, ...params]};
  if (useCache) body.use_cache = true;
  return {body};
}
