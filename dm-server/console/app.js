// The console's entry: sign-in, the scope of the key, navigation between
// the views (the part of the URL after '#'), focus after each navigation.

import {ApiError, credential, get, setScope, signIn, signOut} from './api.js';
import {announce, field, focusHeading, h, messages, replace} from './dom.js';
import * as devices from './devices.js';
import * as device from './device.js';
import * as campaigns from './campaigns.js';
import * as bootstrap from './bootstrap.js';

const role = document.documentElement.dataset.role === 'bootstrap' ? 'bootstrap' : 'management';
const main = document.getElementById('main');
let unmount = null;
let signedIn = false;

/** The views by the first segment of the route. */
const VIEWS = role === 'bootstrap'
  ? {bootstrap: bootstrap.mount}
  : {devices: (root, rest, search) => (rest.length ? device.mount(root, rest.join('/'), search)
    : devices.mount(root, search)),
  campaigns: (root, rest) => campaigns.mount(root, rest[0] || null)};
const HOME = role === 'bootstrap' ? '#/bootstrap' : '#/devices';

/** What `GET /admin/whoami` says of the key (admin for a server before it). */
async function whoami() {
  try {
    return await get('/admin/whoami');
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return {scope: 'admin', key: null};
    throw error;
  }
}

function showSignIn(problem) {
  signedIn = false;
  if (unmount) unmount();
  unmount = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('account').hidden = true;
  const input = h('input', {
    type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', required: false,
  });
  const status = messages('sign-in-messages');
  const form = h('form', {
    class: 'card sign-in', 'aria-labelledby': 'sign-in-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      status.say('Signing in…');
      signIn(input.value.trim());
      try {
        await start();
      } catch (error) {
        signOut();
        status.fail(error.status === 401
          ? 'This key was refused: it is unknown, revoked or mistyped.'
          : `Cannot sign in: ${error.message}`);
        input.focus();
      }
    },
  },
  h('h1', {id: 'sign-in-title'}, 'Sign in'),
  field('key', 'API key or admin token', input,
    'The key stays in this browser tab until you sign out or close it. On a server in dev mode, leave it empty.'),
  h('button', {type: 'submit'}, 'Sign in'),
  status.region);
  if (problem) status.fail(problem);
  replace(main, form);
  input.focus();
}

/** Signs in with the stored key: the scope, then the current view. */
async function start() {
  const who = await whoami();
  setScope(who.scope);
  signedIn = true;
  document.body.dataset.scope = who.scope;
  const name = who.key && who.key.name ? who.key.name : (credential() ? 'admin token' : 'dev mode');
  document.getElementById('who').textContent = `${name} (${who.scope})`;
  for (const item of document.querySelectorAll('[data-role-only]')) {
    item.hidden = item.dataset.roleOnly !== role;
  }
  document.getElementById('nav').hidden = false;
  document.getElementById('account').hidden = false;
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    history.replaceState(null, '', HOME);
  }
  route(false);
}

/** Shows the view the URL names; `focus` moves focus to its heading. */
function route(focus = true) {
  if (!signedIn) return;
  if (unmount) unmount();
  unmount = null;
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, search = ''] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const view = VIEWS[parts[0]];
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#/${parts[0]}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const root = h('div', {class: 'view'});
  replace(main, root);
  if (!view) {
    replace(root, h('h1', {}, 'Not found'), h('p', {}, h('a', {href: HOME}, 'Back to the start')));
  } else {
    unmount = view(root, parts.slice(1), new URLSearchParams(search)) || null;
  }
  if (focus) focusHeading(root);
}

window.addEventListener('hashchange', () => route(true));
window.addEventListener('dm:unauthorized', () => {
  if (!signedIn) return;
  signOut();
  showSignIn('The server refused the key (revoked or wrong): sign in again.');
});
document.getElementById('sign-out').addEventListener('click', () => {
  signOut();
  showSignIn();
  announce('Signed out');
});

if (credential() === null) {
  showSignIn();
} else {
  start().catch((error) => {
    signOut();
    showSignIn(`Cannot sign in: ${error.message}`);
  });
}
