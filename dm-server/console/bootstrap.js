// The bootstrap role's console: the profiles that decide which management
// servers a device is given (docs/bootstrap.md), and server-initiated
// bootstrap of a registered device.

import {can, get, post, remove, segment} from './api.js';
import {announce, field, h, messages, replace, table} from './dom.js';

const EXAMPLE = {
  name: 'fleet-a',
  match: {dev_id_pattern: 'IMEI:35*'},
  accounts: [{
    server_id: 'dm.example',
    server_uri: 'https://dm.example/dm',
    credentials: {notification_secret: true, http_password: true},
  }],
};

export function mount(root) {
  const status = messages('profiles-status');
  const listing = h('section', {'aria-labelledby': 'profiles-title'});
  replace(root, h('h1', {}, 'Bootstrap profiles'), status.region, listing,
    can('admin') ? editor(() => load()) : null,
    can('operator') ? notifier() : null);
  let alive = true;
  const load = () => get('/admin/bootstrap/profiles').then((answer) => {
    if (!alive) return;
    const profiles = answer.profiles || [];
    replace(listing, h('h2', {id: 'profiles-title'}, 'Profiles'),
      profiles.length
        ? table('Profiles in name order', ['Name', 'Matches', 'Servers', ...(can('admin') ? ['Actions'] : [])],
          profiles.map((profile) => ({
            attributes: {'data-profile': profile.name},
            cells: [profile.name, matchText(profile.match),
              (profile.accounts || []).map((a) => `${a.server_id} (${a.server_uri})`).join(', '),
              ...(can('admin') ? [h('button', {
                type: 'button', 'aria-label': `Delete profile ${profile.name}`,
                onclick: async () => {
                  if (!window.confirm(`Delete the profile ${profile.name}?`)) return;
                  try {
                    await remove(`/admin/bootstrap/profiles/${segment(profile.name)}`);
                    announce(`Profile ${profile.name} deleted`);
                    status.say(`Profile ${profile.name} deleted.`);
                  } catch (error) {
                    status.fail(`Not deleted (${error.status}): ${error.message}`);
                  }
                  load();
                  document.querySelector('main h1').focus();
                },
              }, 'Delete')] : [])],
          })), {rowHeader: true})
        : h('p', {}, 'No profile: no device can be bootstrapped.'));
  }).catch((error) => { if (alive) status.fail(`The profiles cannot be listed: ${error.message}`); });
  load();
  return () => { alive = false; };
}

function matchText(match) {
  if (!match) return '—';
  if (match.identity) return `identity ${match.identity}`;
  if (match.dev_id) return `DevID ${match.dev_id}`;
  if (match.dev_id_pattern) return `DevID like ${match.dev_id_pattern}`;
  return JSON.stringify(match);
}

/** Adds or replaces a profile from its JSON (the admin API's form). */
function editor(reload) {
  const text = h('textarea', {name: 'profile', rows: 12, spellcheck: 'false'});
  text.value = JSON.stringify(EXAMPLE, null, 2);
  const saved = messages('profile-messages');
  return h('form', {
    class: 'card', 'aria-labelledby': 'profile-editor-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      let profile;
      try {
        profile = JSON.parse(text.value);
      } catch (error) {
        text.setAttribute('aria-invalid', 'true');
        saved.fail(`Not JSON: ${error.message}`);
        text.focus();
        return;
      }
      try {
        const answer = await post('/admin/bootstrap/profiles', profile);
        text.removeAttribute('aria-invalid');
        saved.say(`Profile ${answer.name} saved.`);
        reload();
      } catch (error) {
        text.setAttribute('aria-invalid', 'true');
        saved.fail(`The server refused the profile (${error.status}): ${error.message}`);
        text.focus();
      }
    },
  },
  h('h2', {id: 'profile-editor-title'}, 'Add or replace a profile'),
  field('profile-json', 'Profile (JSON, as POST /admin/bootstrap/profiles takes it)', text,
    'A profile of the same name is replaced.'),
  h('button', {type: 'submit'}, 'Save the profile'),
  saved.region);
}

/** Server-initiated bootstrap: a Package#0 to a registered device. */
function notifier() {
  const devId = h('input', {type: 'text', name: 'dev_id', autocomplete: 'off', spellcheck: 'false'});
  const sent = messages('bootstrap-notify-messages');
  return h('form', {
    class: 'card', 'aria-labelledby': 'bootstrap-notify-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      if (!devId.value.trim()) {
        sent.fail('Give the DevID of a device registered with the bootstrap server.');
        devId.focus();
        return;
      }
      try {
        const answer = await post(`/admin/bootstrap/devices/${segment(devId.value.trim())}/notify`);
        sent.say(`Notification ${answer.notification_id} sent to ${answer.address}.`);
      } catch (error) {
        sent.fail(`Not sent (${error.status}): ${error.message}`);
      }
    },
  },
  h('h2', {id: 'bootstrap-notify-title'}, 'Bootstrap a device now'),
  field('bootstrap-dev-id', 'DevID', devId),
  h('button', {type: 'submit'}, 'Send the bootstrap notification'),
  sent.region);
}
