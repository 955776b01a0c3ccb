// Campaigns: the list, a form creating one from a group and an artifact,
// and one campaign's progress per stage with pause, resume, approve and
// cancel; kept current by the event stream (campaign.progress).

import {can, get, post, segment} from './api.js';
import {announce, field, h, messages, replace, showConnection, table, time} from './dom.js';
import {follow} from './events.js';

const STATES = ['pending', 'notified', 'in_session', 'downloading', 'installing', 'succeeded', 'failed', 'skipped'];

/** What each action does, and from which statuses (docs/admin-api.md). */
const ACTIONS = [
  {name: 'pause', label: 'Pause', from: ['running', 'waiting_approval']},
  {name: 'resume', label: 'Resume', from: ['paused']},
  {name: 'approve', label: 'Approve the stage', from: ['waiting_approval', 'paused']},
  {name: 'cancel', label: 'Cancel', from: ['running', 'waiting_approval', 'paused']},
];

export function mount(root, id) {
  return id === null ? list(root) : one(root, id);
}

/** Re-reads with `load` on each event (one read at a time). */
function live(load, filter) {
  let loading = null;
  let again = false;
  const refresh = () => {
    if (loading) {
      again = true;
      return;
    }
    loading = load().finally(() => {
      loading = null;
      if (again) {
        again = false;
        refresh();
      }
    });
  };
  const stop = follow(filter, () => refresh(), showConnection);
  return {refresh, stop};
}

function list(root) {
  const status = messages('campaigns-status');
  const listing = h('section', {'aria-labelledby': 'campaigns-list-title'});
  replace(root, h('h1', {}, 'Campaigns'), status.region, listing,
    can('operator') ? createForm() : null);
  let alive = true;
  const load = () => get('/admin/campaigns').then((answer) => {
    if (!alive) return;
    const campaigns = (answer.campaigns || []).slice().reverse();
    replace(listing, h('h2', {id: 'campaigns-list-title'}, 'All campaigns'),
      campaigns.length
        ? table('Campaigns, newest first', ['Id', 'Name', 'Status', 'Stage', 'Created'], campaigns.map((campaign) => ({
          attributes: {'data-campaign-id': campaign.id},
          cells: [h('a', {href: `#/campaigns/${campaign.id}`}, String(campaign.id)), campaign.name || '—',
            statusText(campaign), `${campaign.stage + 1} of ${campaign.stages}`, time(campaign.created_ms)],
        })), {rowHeader: true})
        : h('p', {}, 'No campaign yet.'));
  }).catch((error) => { if (alive) status.fail(`The campaigns cannot be listed: ${error.message}`); });
  const {refresh, stop} = live(load, {kinds: ['campaign.progress']});
  refresh();
  return () => {
    alive = false;
    stop();
  };
}

function statusText(campaign) {
  let text = campaign.status.replace('_', ' ');
  if (campaign.pause_reason) text += ` (${campaign.pause_reason.replace('_', ' ')})`;
  return text;
}

/** The form creating a campaign: name, artifact, group, stages, pacing. */
function createForm() {
  const name = h('input', {type: 'text', name: 'name', autocomplete: 'off'});
  const artifact = h('select', {name: 'artifact', required: true});
  const group = h('select', {name: 'group', required: true});
  const stages = h('input', {type: 'text', name: 'stages', value: '100', inputmode: 'numeric', autocomplete: 'off'});
  const advance = h('select', {name: 'advance'},
    h('option', {value: 'auto'}, 'automatically'),
    h('option', {value: 'approval'}, 'after my approval'));
  const rate = h('input', {type: 'number', name: 'rate', value: '10', min: '1', step: '1'});
  const created = messages('create-messages');
  Promise.all([get('/admin/artifacts'), get('/admin/groups')]).then(([artifacts, groups]) => {
    replace(artifact, (artifacts.artifacts || []).map((a) =>
      h('option', {value: a.id}, `${a.id} (${a.kind} ${a.name} ${a.version})`)));
    replace(group, (groups.groups || []).map((g) =>
      h('option', {value: g.id}, g.description ? `${g.id}: ${g.description}` : g.id)));
  }).catch((error) => created.fail(`Artifacts and groups cannot be listed: ${error.message}`));
  return h('form', {
    class: 'card', 'aria-labelledby': 'create-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      const sizes = stages.value.split(',').map((s) => s.trim()).filter(Boolean);
      const percents = sizes.map(Number);
      if (!percents.length || percents.some((p) => !Number.isInteger(p) || p < 1 || p > 100)) {
        stages.setAttribute('aria-invalid', 'true');
        created.fail('Stages: give the size of each stage in percent of the group (1 to 100), separated by commas, e.g. 10, 100.');
        stages.focus();
        return;
      }
      stages.removeAttribute('aria-invalid');
      if (!artifact.value || !group.value) {
        created.fail('Choose an artifact and a group (upload and define them through the admin API first).');
        return;
      }
      const perSecond = Number(rate.value);
      if (!Number.isInteger(perSecond) || perSecond < 1) {
        created.fail('Notifications per second: a whole number, at least 1.');
        rate.focus();
        return;
      }
      const spec = {
        name: name.value.trim(),
        artifact: artifact.value,
        group: group.value,
        stages: percents.map((percent) => ({size: {percent}, advance: advance.value})),
        pacing: {notifications_per_second: perSecond},
      };
      try {
        const campaign = await post('/admin/campaigns', spec);
        announce(`Campaign ${campaign.id} created`);
        location.hash = `#/campaigns/${campaign.id}`;
      } catch (error) {
        created.fail(`The server refused the campaign (${error.status}): ${error.message}`);
      }
    },
  },
  h('h2', {id: 'create-title'}, 'Start a campaign'),
  field('campaign-name', 'Name', name),
  field('campaign-artifact', 'Artifact', artifact),
  field('campaign-group', 'Group', group),
  field('campaign-stages', 'Stages (percent of the group, in order)', stages,
    'For example 10, 100: a tenth first, then the rest. The last stage takes whoever is left.'),
  field('campaign-advance', 'Go to the next stage', advance),
  field('campaign-rate', 'Notifications per second', rate),
  h('button', {type: 'submit'}, 'Start the campaign'),
  created.region);
}

function one(root, id) {
  const status = messages('campaign-status');
  const summary = h('section', {'aria-labelledby': 'campaign-summary-title'});
  const progress = h('section', {'aria-labelledby': 'campaign-progress-title'});
  const actions = h('div', {class: 'actions-row', role: 'group', 'aria-label': 'Campaign actions'});
  const done = messages('action-messages');
  replace(root,
    h('p', {class: 'crumbs'}, h('a', {href: '#/campaigns'}, 'Campaigns')),
    h('h1', {}, `Campaign ${id}`),
    status.region, summary, can('operator') ? [actions, done.region] : null, progress);
  let alive = true;
  let lastStatus = null;
  const load = () => get(`/admin/campaigns/${segment(id)}`).then((campaign) => {
    if (!alive) return;
    if (lastStatus !== null && lastStatus !== campaign.status) announce(`Campaign ${id} is ${campaign.status.replace('_', ' ')}`);
    lastStatus = campaign.status;
    render(summary, progress, campaign);
    if (can('operator')) renderActions(actions, campaign, done, () => refresh());
  }).catch((error) => { if (alive) status.fail(error.status === 404 ? `There is no campaign ${id}.` : `The campaign cannot be read: ${error.message}`); });
  const {refresh, stop} = live(load, {kinds: ['campaign.progress']});
  refresh();
  return () => {
    alive = false;
    stop();
  };
}

function render(summary, progress, campaign) {
  const spec = campaign.spec || {};
  replace(summary,
    h('h2', {id: 'campaign-summary-title', class: 'visually-hidden'}, 'Summary'),
    h('dl', {class: 'facts'},
      [['Name', campaign.name || '—'], ['Status', statusText(campaign)],
        ['Stage', `${campaign.stage + 1} of ${campaign.stages}`], ['Artifact', spec.artifact || '—'],
        ['Group', spec.group || '—'], ['Created', time(campaign.created_ms)], ['Updated', time(campaign.updated_ms)]]
        .map(([name, value]) => [h('dt', {}, name), h('dd', {'data-fact': name.toLowerCase()}, value)])));
  const stages = (campaign.progress && campaign.progress.stages) || [];
  replace(progress,
    h('h2', {id: 'campaign-progress-title'}, 'Progress per stage'),
    stages.length ? h('ol', {class: 'stages'}, stages.map((stage) => stageItem(stage, campaign))) : h('p', {}, 'No device yet.'),
    campaign.progress ? h('p', {}, `${campaign.progress.total} devices in all: `,
      countsText(campaign.progress.totals || {})) : null);
}

function countsText(counts) {
  const parts = STATES.filter((state) => counts[state]).map((state) => `${counts[state]} ${state.replace('_', ' ')}`);
  return parts.join(', ') || 'none yet';
}

function stageItem(stage, campaign) {
  const counts = stage.counts || {};
  const finished = (counts.succeeded || 0) + (counts.failed || 0) + (counts.skipped || 0);
  const label = `Stage ${stage.stage + 1}${stage.stage === campaign.stage && campaign.status !== 'completed' ? ' (current)' : ''}`;
  return h('li', {'data-stage': stage.stage, 'data-succeeded': counts.succeeded || 0, 'data-total': stage.total},
    h('h3', {id: `stage-${stage.stage}`}, label),
    h('progress', {max: stage.total, value: finished, 'aria-labelledby': `stage-${stage.stage}`},
      `${finished} of ${stage.total}`),
    h('p', {}, `${finished} of ${stage.total} finished: `, countsText(counts)));
}

function renderActions(actions, campaign, done, refresh) {
  const applicable = ACTIONS.filter((action) => action.from.includes(campaign.status)
    && !(action.name === 'approve' && campaign.status === 'paused' && campaign.pause_reason !== 'error_threshold'));
  // The same buttons stay (and keep the focus) while the same actions apply.
  const names = applicable.map((action) => action.name).join(' ');
  if (actions.dataset.actions === names && !actions.dataset.refocus) return;
  actions.dataset.actions = names;
  replace(actions, applicable
    .map((action) => h('button', {
      type: 'button', 'data-action': action.name,
      onclick: async (event) => {
        event.currentTarget.disabled = true;
        actions.dataset.refocus = 'true';
        try {
          const answer = await post(`/admin/campaigns/${campaign.id}/${action.name}`);
          done.say(`${action.label}: the campaign is ${answer.status.replace('_', ' ')}.`);
        } catch (error) {
          done.fail(`${action.label} refused (${error.status}): ${error.message}`);
        }
        refresh();
      },
    }, action.label)));
  if (actions.dataset.refocus) {
    delete actions.dataset.refocus;
    const first = actions.querySelector('button');
    if (first) first.focus();
    else document.querySelector('main h1').focus();
  }
}
