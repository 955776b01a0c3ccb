// The device list: search by the start of the DevID, pages of 50 in DevID
// order (GET /admin/devices?prefix=&after=&limit=).

import {get, query} from './api.js';
import {field, h, messages, replace, table, time} from './dom.js';

const PAGE = 50;

/** The cursors of the pages before the current one, per search. */
const previous = {prefix: null, cursors: []};

function link(prefix, after) {
  return `#/devices${query({prefix, after})}`;
}

export function mount(root, search) {
  performance.mark('dm:devices-start');
  const prefix = search.get('prefix') || '';
  const after = search.get('after') || '';
  if (previous.prefix !== prefix) {
    previous.prefix = prefix;
    previous.cursors = [];
  }
  const input = h('input', {type: 'search', name: 'prefix', value: prefix, autocomplete: 'off', spellcheck: 'false'});
  const status = messages('devices-status');
  const results = h('div', {id: 'device-results', 'aria-busy': 'true'});
  const form = h('form', {
    role: 'search', class: 'search',
    onsubmit: (event) => {
      event.preventDefault();
      location.hash = link(input.value.trim(), '');
    },
  },
  field('device-prefix', 'DevID starts with', input),
  h('button', {type: 'submit'}, 'Search'));
  replace(root, h('h1', {}, 'Devices'), form, status.region, results);

  let alive = true;
  get(`/admin/devices${query({prefix, after, limit: PAGE})}`).then((page) => {
    if (!alive) return;
    render(results, page, prefix, after, status);
    results.setAttribute('aria-busy', 'false');
    performance.mark('dm:devices-rendered');
    performance.measure('dm:devices', 'dm:devices-start', 'dm:devices-rendered');
  }).catch((error) => {
    if (!alive) return;
    results.setAttribute('aria-busy', 'false');
    status.fail(`The devices cannot be listed: ${error.message}`);
  });
  return () => { alive = false; };
}

function render(results, page, prefix, after, status) {
  const devices = page.devices || [];
  const count = devices.length;
  const where = prefix ? ` whose DevID starts with “${prefix}”` : '';
  let summary;
  if (count === 0) summary = after ? 'No more devices.' : `No device${where}.`;
  else if (typeof page.total === 'number') summary = `${page.total.toLocaleString('en')} devices${where}; the first ${count} shown.`;
  else summary = `${count} device${count === 1 ? '' : 's'}${where}${after ? ` after ${after}` : ''} shown.`;
  status.say(summary);
  const rows = devices.map((device) => {
    const last = device.last_session;
    return {
      attributes: {'data-dev-id': device.dev_id},
      cells: [
        h('a', {href: `#/devices/${encodeURIComponent(device.dev_id)}`}, device.dev_id),
        last ? time(last.started_ms) : 'never',
        last ? (last.outcome || 'open') : '—',
        String((device.open_sessions || []).length),
        (device.tags || []).join(', ') || '—',
        device.notification_address || '—',
      ],
    };
  });
  const pages = h('nav', {class: 'pages', 'aria-label': 'Pages of devices'});
  if (after) {
    const back = previous.cursors.length ? previous.cursors[previous.cursors.length - 1] : '';
    pages.append(h('a', {
      class: 'button', href: link(prefix, back), rel: 'prev',
      onclick: () => { previous.cursors.pop(); },
    }, 'Previous page'));
  }
  if (page.next) {
    pages.append(h('a', {
      class: 'button', href: link(prefix, page.next), rel: 'next',
      onclick: () => { previous.cursors.push(after); },
    }, 'Next page'));
  }
  replace(results,
    count ? table('Devices', ['DevID', 'Last session', 'Outcome', 'Open sessions', 'Tags', 'Notification address'], rows, {rowHeader: true, class: 'devices'}) : null,
    pages);
}
