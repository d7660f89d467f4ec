// An order: its lines and fulfillment lines, the plan as swimlanes and as a
// timeline with the critical path, its revisions and its events. The feed
// (events of the order, replayed from its first) recolours steps in place
// as they change and fills the event list; the order is read again shortly
// after a change (debounced), for times, the prediction and the timeline
// (Plan.timeline: the server's forecast, planned and actual times).

import { h, fill, badge, when, table, debounce, errorText, section } from './ui.js';
import { swimlanes, gantt, updateStep } from './draw.js';

const ORDER = `query Order($id: ID!) {
  order(id: $id) {
    id externalId accountId status jeopardy falloutCount revision attributes requestedCompletion createdAt completedAt submittedBy
    lines { lineId productCode quantity status parentLineId action generated missing }
    fulfillmentLines { key productCode rule scope quantity attributes removedIn }
    revisions { number kind status actor reason requestedAt appliedAt
      diff { added { name } cancelled { name } compensated { name } refused { lineId stepName } } }
    plan { id status jeopardy jeopardyReason predictedCompletion predictedCompletionP90 requestedCompletion startedAt completedAt
      criticalPath { id }
      groups { id name position }
      steps { id name type scope instanceKey status jeopardy groupID queue system assignee attemptCount error note
        readyAt startedAt completedAt dueAt updatedAt dependsOn { id } }
      timeline { swimlane plannedStart plannedEnd actualStart actualEnd critical basis samples p50Seconds p90Seconds
        step { id name type status jeopardy } }
    }
  }
}`;

const FEED = `subscription OrderFeed($orderId: ID, $after: String) {
  events(orderId: $orderId, after: $after) {
    cursor kind at from to actor note system
    step { id name type status jeopardy assignee }
  }
}`;

export function render(app, el, { id }) {
  let order = null;
  let selected = null;
  const events = [];
  const head = h('div', { class: 'toolbar' }, h('h1', {}, 'Order'));
  const msg = h('p', { class: 'error', hidden: true });
  const body = h('div', {});
  const eventList = h('div', { class: 'events' });
  el.append(head, msg, body);

  const stepById = () => new Map(((order && order.plan && order.plan.steps) || []).map((st) => [st.id, st]));

  function drawEvents() {
    const rows = events.slice(-300).reverse();
    fill(eventList, rows.length === 0 ? h('p', { class: 'empty' }, 'No events yet.') : table([
      ['At', (e) => when(e.at)],
      ['Kind', (e) => e.kind],
      ['Step', (e) => (e.step ? e.step.name : '')],
      ['Change', (e) => [e.from ? e.from + ' → ' : '', e.to]],
      ['By', (e) => e.actor || ''],
      ['Note', (e) => e.note || e.system || ''],
    ], rows));
  }

  function details() {
    const st = selected && stepById().get(selected);
    if (!st) return h('p', { class: 'hint' }, 'Select a step to see its details.');
    return h('dl', { class: 'details', dataset: { stepId: st.id } },
      [['Step', st.name], ['Type', st.type], ['Scope', `${st.scope} ${st.instanceKey}`], ['Status', badge(st.status)],
        ['Jeopardy', badge(st.jeopardy, 'jp')], ['Queue', st.queue], ['Assignee', st.assignee], ['System', st.system],
        ['Attempts', st.attemptCount], ['Ready', when(st.readyAt)], ['Started', when(st.startedAt)],
        ['Completed', when(st.completedAt)], ['Due', when(st.dueAt)], ['Error', st.error], ['Note', st.note]]
        .filter(([, v]) => v !== null && v !== undefined && v !== '')
        .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  // forecast: the plan's jeopardy, why, and its predicted completion.
  function forecast(plan) {
    return h('p', { class: 'forecast', dataset: { jeopardy: plan.jeopardy } }, 'Plan jeopardy ', badge(plan.jeopardy, 'jp'),
      plan.jeopardyReason ? h('span', { class: 'reason' }, ' ', plan.jeopardyReason) : null,
      h('span', { class: 'meta' },
        plan.predictedCompletion ? ` · predicted ${when(plan.predictedCompletion)}` : ' · no prediction (no step has a duration)',
        plan.predictedCompletionP90 && plan.predictedCompletionP90 !== plan.predictedCompletion
          ? ` · p90 ${when(plan.predictedCompletionP90)}` : plan.predictedCompletionP90 ? ' (p90 the same)' : '',
        plan.requestedCompletion ? ` · requested ${when(plan.requestedCompletion)}` : ''));
  }

  function draw() {
    const o = order;
    fill(head, h('h1', {}, 'Order ', o.externalId), badge(o.status), badge(o.jeopardy, 'jp'),
      o.falloutCount ? h('span', { class: 'badge st-FALLOUT' }, `${o.falloutCount} in fallout`) : null,
      h('span', { class: 'meta' }, `account ${o.accountId} · submitted ${when(o.createdAt)}${o.submittedBy ? ' by ' + o.submittedBy : ''}`,
        o.requestedCompletion ? ` · requested by ${when(o.requestedCompletion)}` : '',
        o.plan && o.plan.predictedCompletion ? ` · predicted ${when(o.plan.predictedCompletion)}` : '',
        o.plan && o.plan.predictedCompletionP90 && o.plan.predictedCompletionP90 !== o.plan.predictedCompletion
          ? ` (p90 ${when(o.plan.predictedCompletionP90)})` : ''));
    const plan = o.plan;
    const critical = new Set(((plan && plan.criticalPath) || []).map((st) => st.id));
    const detailBox = h('div', { class: 'step-details' }, details());
    const select = (sid) => { selected = sid; fill(detailBox, details()); };
    fill(body, 
      plan ? section('Plan', h('p', { class: 'legend' }, 'Plan ', badge(plan.status), ' — steps coloured by status; a dot marks jeopardy; critical path outlined.'),
        forecast(plan),
        h('div', { class: 'scroll', id: 'swimlanes' }, swimlanes(plan, critical, select)), detailBox)
        : section('Plan', h('p', { class: 'empty' }, 'No plan yet.')),
      plan ? section('Timeline', h('p', { class: 'legend' }, 'Planned (thin) from the forecast — each step\'s history once it has enough completions, else the catalog\'s estimate; actual (coloured) as it ran; dashed: not started; bold: critical path.'),
        h('div', { class: 'scroll', id: 'timeline' }, gantt(plan, plan.timeline))) : null,
      h('div', { class: 'columns' },
        section('Lines', table([
          ['Line', (l) => l.lineId], ['Product', (l) => l.productCode], ['Qty', (l) => l.quantity],
          ['Action', (l) => l.action], ['Status', (l) => badge(l.status)], ['Parent', (l) => l.parentLineId || ''],
        ], o.lines || [])),
        section('Fulfillment lines', table([
          ['Key', (l) => l.key], ['Product', (l) => l.productCode], ['Rule', (l) => l.rule], ['Scope', (l) => l.scope],
          ['Qty', (l) => l.quantity], ['Attributes', (l) => (l.attributes ? JSON.stringify(l.attributes) : '')],
        ], (o.fulfillmentLines || []).filter((l) => l.removedIn === null || l.removedIn === undefined)))),
      section('Revisions', (o.revisions || []).length === 0 ? h('p', { class: 'empty' }, 'None: the order is as submitted.') : table([
        ['#', (r) => r.number], ['Kind', (r) => r.kind], ['Status', (r) => r.status], ['By', (r) => r.actor || ''],
        ['Reason', (r) => r.reason || ''], ['Requested', (r) => when(r.requestedAt)], ['Applied', (r) => when(r.appliedAt)],
        ['Diff', (r) => `+${r.diff.added.length} −${r.diff.cancelled.length} ↺${r.diff.compensated.length}${r.diff.refused.length ? ' refused ' + r.diff.refused.length : ''}`],
      ], o.revisions)),
      section('Events', eventList),
    );
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    try {
      const data = await app.client.query(ORDER, { id });
      if (mine !== seq) return;
      if (!data.order) {
        msg.textContent = 'No such order (or not one of your accounts).';
        msg.hidden = false;
        fill(body);
      } else {
        order = data.order;
        msg.hidden = true;
        draw();
      }
    } catch (err) {
      msg.textContent = errorText(err);
      msg.hidden = false;
    }
    el.dataset.ready = '1';
  }
  const reload = debounce(load, 700);

  function onEvent(ev) {
    events.push(ev);
    if (events.length > 1000) events.splice(0, events.length - 1000);
    drawEvents();
    if (ev.step && order && order.plan) {
      const st = stepById().get(ev.step.id);
      if (st) {
        Object.assign(st, { status: ev.step.status, jeopardy: ev.step.jeopardy, assignee: ev.step.assignee });
        updateStep(body, st);
        if (selected === st.id) fill(body.querySelector('.step-details'), details());
      }
    }
    reload();
  }

  drawEvents();
  load();
  const stop = app.client.subscribe(FEED, { orderId: id, after: '' }, onEvent,
    (err) => { msg.textContent = 'Live feed ended: ' + errorText(err); msg.hidden = false; });
  return () => { stop(); reload.cancel(); };
}
