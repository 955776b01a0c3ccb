// Building the page from data without HTML strings: every text goes in as
// a text node (the page's Content-Security-Policy forbids HTML strings).

/**
 * An element: `h('a', {href: '#/x', class: 'c'}, 'text', child)`.
 * Attributes named `on<event>` are listeners; `false`, `null` and
 * `undefined` attributes are left out; `true` sets an empty attribute.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.append(child);
    else element.append(document.createTextNode(String(child)));
  }
}

/** Replaces the children of `element`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A Unix millisecond time as local date and time; '—' when absent. */
export function time(ms) {
  if (ms === null || ms === undefined) return '—';
  const date = new Date(ms);
  return h('time', {datetime: date.toISOString()}, date.toLocaleString());
}

/** Tells screen readers `text` (the page's polite live region). */
export function announce(text) {
  const announcer = document.getElementById('announcer');
  announcer.textContent = '';
  // A change of content is what assistive technology reads out.
  setTimeout(() => { announcer.textContent = text; }, 30);
}

/** A table: headers, then rows of cells (each cell a child or list). */
export function table(caption, headers, rows, options = {}) {
  // Explicit roles: at a phone's width the rows are laid out as cards
  // (display: block), which would otherwise drop the table's semantics.
  return h('div', {class: 'table-wrap'},
    h('table', {class: options.class || null, role: 'table'},
      h('caption', {class: options.showCaption ? null : 'visually-hidden'}, caption),
      h('thead', {role: 'rowgroup'}, h('tr', {role: 'row'},
        headers.map((name) => h('th', {scope: 'col', role: 'columnheader'}, name)))),
      h('tbody', {role: 'rowgroup'}, rows.map((row) => {
        const attributes = {role: 'row', ...(row.attributes || {})};
        const cells = row.cells || row;
        return h('tr', attributes, cells.map((cell, i) =>
          i === 0 && options.rowHeader
            ? h('th', {scope: 'row', role: 'rowheader', 'data-label': headers[i]}, cell)
            : h('td', {role: 'cell', 'data-label': headers[i]}, cell)));
      }))));
}

/** A labelled form field: `<label>` and the control, with a hint. */
export function field(id, label, control, hint) {
  control.id = id;
  if (hint) control.setAttribute('aria-describedby', `${id}-hint`);
  return h('div', {class: 'field'},
    h('label', {for: id}, label),
    control,
    hint ? h('p', {class: 'hint', id: `${id}-hint`}, hint) : null);
}

/** A message region: `say(text)` for news, `fail(text)` for errors. */
export function messages(id) {
  const region = h('div', {id, class: 'messages', role: 'status'});
  return {
    region,
    say(text) {
      region.setAttribute('role', 'status');
      region.className = 'messages ok';
      region.textContent = text;
    },
    fail(text) {
      region.setAttribute('role', 'alert');
      region.className = 'messages error';
      region.textContent = text;
    },
    clear() {
      region.className = 'messages';
      region.textContent = '';
    },
  };
}

/** Moves focus to the view's heading after a navigation. */
export function focusHeading(root) {
  const heading = root.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({preventScroll: false});
  }
}

/** Shows the state of the event stream next to the account. */
export function showConnection(state) {
  const element = document.getElementById('connection');
  const text = {
    connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…',
    polling: 'Refreshing every 5 s', stopped: '',
  }[state] ?? '';
  element.textContent = text;
  element.dataset.state = state;
}
