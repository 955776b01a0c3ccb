// One device: DevInfo, MO inventory, commands with their results (queue
// one, notify the device), sessions and alerts; kept current by the event
// stream (command.finished, alert.received, session.ended of this device).

import {ApiError, can, get, post, query, segment} from './api.js';
import {announce, field, h, messages, replace, showConnection, table, time} from './dom.js';
import {COMMANDS, parseCommand} from './command.js';
import {follow} from './events.js';

const LISTED = 20;

export function mount(root, devId) {
  performance.mark('dm:device-start');
  const base = `/admin/devices/${segment(devId)}`;
  const status = messages('device-status');
  const sections = {
    overview: h('section', {'aria-labelledby': 'overview-title'}),
    commands: h('section', {'aria-labelledby': 'commands-title'}),
    devinfo: h('section', {'aria-labelledby': 'devinfo-title'}),
    mos: h('section', {'aria-labelledby': 'mos-title'}),
    sessions: h('section', {'aria-labelledby': 'sessions-title'}),
    alerts: h('section', {'aria-labelledby': 'alerts-title'}),
  };
  const actions = can('operator') ? actionsOf(base, () => refresh()) : null;
  replace(root,
    h('p', {class: 'crumbs'}, h('a', {href: '#/devices'}, 'Devices')),
    h('h1', {}, devId),
    status.region,
    sections.overview,
    actions,
    h('div', {class: 'columns'}, sections.commands, h('div', {}, sections.devinfo, sections.mos)),
    h('div', {class: 'columns'}, sections.sessions, sections.alerts));

  let alive = true;
  let loading = null;
  let again = false;
  let first = true;

  async function load() {
    const [device, sessions, alerts] = await Promise.all([
      get(base),
      get(`${base}/sessions${query({limit: LISTED})}`).catch((error) => {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }),
      get(`${base}/alerts${query({limit: LISTED})}`),
    ]);
    return {device, sessions: sessions ? sessions.sessions : (device.sessions || []).slice(0, LISTED),
      alerts: (alerts.alerts || []).slice(-LISTED).reverse(), alertTotal: alerts.total ?? device.alerts};
  }

  /** Reads the device again (one read at a time; one more if asked meanwhile). */
  function refresh() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = load().then((data) => {
      if (!alive) return;
      render(sections, data);
      if (first) {
        first = false;
        performance.mark('dm:device-rendered');
        performance.measure('dm:device', 'dm:device-start', 'dm:device-rendered');
      }
    }).catch((error) => {
      if (alive) status.fail(error.status === 404 ? `There is no device ${devId}.` : `The device cannot be read: ${error.message}`);
    }).finally(() => {
      loading = null;
      if (again && alive) {
        again = false;
        refresh();
      }
    });
    return loading;
  }

  refresh();
  const stop = follow({devId, kinds: ['command.finished', 'alert.received', 'session.ended']},
    (event) => {
      if (event.kind === 'command.finished' && event.data) {
        announce(`Command ${event.data.command_id} (${event.data.command}) ${event.data.state}${event.data.status ? ` with status ${event.data.status}` : ''}`);
      }
      refresh();
    },
    showConnection);
  return () => {
    alive = false;
    stop();
  };
}

function render(sections, data) {
  const {device} = data;
  replace(sections.overview,
    h('h2', {id: 'overview-title', class: 'visually-hidden'}, 'Overview'),
    h('dl', {class: 'facts'},
      fact('Registered', time(device.registered_ms)),
      fact('User name', device.username || '—'),
      fact('Notification address', device.notification_address || '—'),
      fact('Open sessions', String((device.open_sessions || []).length)),
      fact('Last session', device.last_session ? [time(device.last_session.started_ms), ` (${device.last_session.outcome || 'open'})`] : 'never'),
      fact('Tags', (device.tags || []).join(', ') || '—')));

  const devinfo = Object.entries(device.devinfo || {});
  replace(sections.devinfo,
    h('h2', {id: 'devinfo-title'}, 'DevInfo'),
    devinfo.length
      ? h('dl', {class: 'facts'}, devinfo.map(([name, value]) => fact(name, typeof value === 'string' ? value : JSON.stringify(value))))
      : h('p', {}, 'Not reported yet (the server keeps what the device answers to a GET of its DevInfo).'));

  const mos = device.mos || [];
  replace(sections.mos,
    h('h2', {id: 'mos-title'}, 'MO inventory'),
    mos.length
      ? table('Management objects', ['MOID', 'Instances', 'DDF'], mos.map((mo) => [
        h('code', {}, mo.MOID), (mo.MIID || []).join(', ') || '—', mo.DDF || '—']))
      : h('p', {}, 'No MOS received yet.'));

  const commands = device.commands || {};
  const all = [...(commands.pending || []), ...(commands.finished || [])]
    .sort((a, b) => Number(b.id) - Number(a.id));
  renderCommands(sections.commands, all);

  replace(sections.sessions,
    h('h2', {id: 'sessions-title'}, 'Sessions'),
    data.sessions.length
      ? table('Sessions, latest first', ['Started', 'Ended', 'Initiator', 'Packages', 'Outcome'], data.sessions.map((session) => [
        time(session.started_ms), time(session.ended_ms), session.initiator || '—',
        String(session.packages ?? '—'), session.outcome || 'open']))
      : h('p', {}, 'No session yet.'));

  replace(sections.alerts,
    h('h2', {id: 'alerts-title'}, 'Alerts'),
    data.alerts.length
      ? [h('p', {}, `${data.alertTotal} kept; the newest ${data.alerts.length} shown.`),
        table('Alerts, newest first', ['Received', 'Type', 'Source', 'Data'], data.alerts.map((alert) => [
          time(alert.received_ms), h('code', {}, alert.alert.AlertType || '—'), alert.alert.SourceURI || '—',
          alert.alert.Data === undefined ? '—' : h('code', {}, JSON.stringify(alert.alert.Data))]))]
      : h('p', {}, 'No alert yet.'));
}

const COMMAND_HEADERS = ['Id', 'Command', 'State', 'Status', 'Queued', 'Result'];

/**
 * The commands table, updated in place: a row whose command did not change
 * is kept (with the focus in it and its result details open or closed),
 * changed rows are replaced, new ones inserted.
 */
function renderCommands(section, all) {
  let body = section.querySelector('tbody');
  if (!all.length) {
    replace(section, h('h2', {id: 'commands-title'}, 'Commands'), h('p', {}, 'No command yet.'));
    return;
  }
  if (!body) {
    replace(section, h('h2', {id: 'commands-title'}, 'Commands'),
      table('Commands, newest first', COMMAND_HEADERS, [], {class: 'commands'}));
    body = section.querySelector('tbody');
  }
  const kept = new Map([...body.children].map((row) => [row.dataset.commandId, row]));
  let cursor = body.firstElementChild;
  for (const command of all) {
    const text = JSON.stringify(command);
    let row = kept.get(command.id);
    if (row && row.dataset.json !== text) {
      const fresh = commandRow(command, text);
      if (cursor === row) cursor = fresh;
      row.replaceWith(fresh);
      row = fresh;
    } else if (!row) {
      row = commandRow(command, text);
    }
    kept.delete(command.id);
    if (row === cursor) cursor = cursor.nextElementSibling;
    else body.insertBefore(row, cursor);
  }
  for (const gone of kept.values()) gone.remove();
}

function commandRow(command, text) {
  const row = table('', COMMAND_HEADERS, [{
    attributes: {'data-command-id': command.id, 'data-state': command.state},
    cells: [
      command.id,
      h('code', {class: 'command'}, command.command.join(' ')),
      h('span', {class: `state state-${command.state}`}, command.state),
      command.status === null ? '—' : String(command.status),
      time(command.queued_ms),
      result(command),
    ],
  }]).querySelector('tbody tr');
  row.dataset.json = text;
  return row;
}

function fact(name, value) {
  return [h('dt', {}, name), h('dd', {}, value)];
}

function result(command) {
  const parts = [];
  if (command.error) parts.push(h('p', {class: 'error-text'}, command.error));
  if (command.uris && command.uris.length) parts.push(h('p', {}, 'URIs: ', command.uris.join(', ')));
  if (command.data && command.data.length) {
    parts.push(h('details', {},
      h('summary', {}, `Data (${command.data.length} item${command.data.length === 1 ? '' : 's'})${command.from_cache ? ', from the cache' : ''}`),
      h('pre', {}, JSON.stringify(command.data, null, 2))));
  }
  return parts.length ? parts : '—';
}

/** The operator's actions: queue a command, notify the device. */
function actionsOf(base, refresh) {
  const name = h('select', {name: 'command'},
    Object.keys(COMMANDS).map((command) => h('option', {value: command}, command)));
  const params = h('textarea', {name: 'params', rows: 3, spellcheck: 'false', autocomplete: 'off'});
  const cache = h('input', {type: 'checkbox', name: 'use_cache'});
  const hint = h('p', {class: 'hint', id: 'command-params-hint'});
  const showHint = () => { hint.textContent = `One per line: ${COMMANDS[name.value].help}.`; };
  name.addEventListener('change', showHint);
  showHint();
  const queued = messages('command-messages');
  const form = h('form', {
    class: 'card', 'aria-labelledby': 'queue-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      const parsed = parseCommand(name.value, params.value, cache.checked);
      if (parsed.error) {
        params.setAttribute('aria-invalid', 'true');
        queued.fail(parsed.error);
        params.focus();
        return;
      }
      params.removeAttribute('aria-invalid');
      try {
        const answer = await post(`${base}/commands`, parsed.body);
        queued.say(`Command ${answer.id} queued: it is sent in the device's next session.`);
        params.value = '';
        refresh();
      } catch (error) {
        params.setAttribute('aria-invalid', 'true');
        queued.fail(`The server refused the command (${error.status}): ${error.message}`);
        params.focus();
      }
    },
  },
  h('h2', {id: 'queue-title'}, 'Queue a command'),
  field('command-name', 'Command', name),
  h('div', {class: 'field'},
    h('label', {for: 'command-params'}, 'Parameters'),
    Object.assign(params, {id: 'command-params'}),
    hint),
  h('div', {class: 'field check'}, Object.assign(cache, {id: 'command-cache'}),
    h('label', {for: 'command-cache'}, 'Ask with the cached version (GET only)')),
  h('button', {type: 'submit'}, 'Queue'),
  queued.region);
  params.setAttribute('aria-describedby', 'command-params-hint');

  const notified = messages('notify-messages');
  const notify = h('div', {class: 'card'},
    h('h2', {}, 'Notify'),
    h('p', {}, 'Send the device a signed notification (Package#0) asking it to open a session now.'),
    h('button', {
      type: 'button', id: 'notify',
      onclick: async () => {
        try {
          const answer = await post(`${base}/notify`);
          notified.say(`Notification ${answer.notification_id} sent to ${answer.address}.`);
        } catch (error) {
          notified.fail(`Not sent (${error.status}): ${error.message}`);
        }
      },
    }, 'Notify the device'),
    notified.region);
  return h('div', {class: 'columns actions'}, form, notify);
}
