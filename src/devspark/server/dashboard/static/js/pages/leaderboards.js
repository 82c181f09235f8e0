// #/leaderboards : global, per scenario, per domain and efficiency boards; every rating
// with its 95% interval drawn as an error bar on the board's scale; history per agent.
// Query: ?board=global|scenario:<id>|domain:<tag>|efficiency&agent=<ref>

import { add, agentLink, clear, field, fmtInt, fmtInterval, fmtNum, fmtRating, h, methodName, sortableTable, timeAgo } from '../dom.js';
import { historyChart, historySeries, intervalBar, intervalScale } from '../charts.js';
import { boards } from '../data.js';

function boardOptions(data) {
  const groups = [h('option', { value: 'global' }, 'Global (all scenarios)')];
  const scenarios = Object.keys(data.by_scenario || {}).sort();
  if (scenarios.length) groups.push(h('optgroup', { label: 'By scenario' }, scenarios.map((id) => h('option', { value: `scenario:${id}` }, id))));
  const domains = Object.keys(data.by_domain || {}).sort();
  if (domains.length) groups.push(h('optgroup', { label: 'By domain' }, domains.map((d) => h('option', { value: `domain:${d}` }, d))));
  groups.push(h('option', { value: 'efficiency' }, 'Efficiency (rating against CPU per move)'));
  return groups;
}

function rowsOf(data, board) {
  if (board === 'global') return data.global || [];
  if (board.startsWith('scenario:')) return (data.by_scenario || {})[board.slice(9)] || [];
  if (board.startsWith('domain:')) return (data.by_domain || {})[board.slice(7)] || [];
  return data.efficiency || [];
}

function ratingTable(rows, caption, onHistory) {
  const scale = intervalScale(rows);
  return sortableTable({
    caption,
    rows,
    sortKey: 'rank',
    empty: 'No rated agent on this board yet.',
    columns: [
      { key: 'rank', label: 'Rank', num: true },
      { key: 'agent', label: 'Agent', render: (r) => agentLink(r.agent) },
      { key: 'rating', label: 'Rating', num: true, render: (r) => fmtRating(r.rating) },
      { key: 'lower', label: '95% interval', num: true, className: 'nowrap hide-narrow', render: (r) => fmtInterval(r) },
      { key: 'width', label: 'Interval', sortable: false, className: 'interval', render: (r) => intervalBar(r, scale) },
      { key: 'matches', label: 'Matches', num: true, className: 'hide-narrow', render: (r) => fmtInt(r.matches) },
      { key: 'wins', label: 'W / D / L', num: true, className: 'nowrap hide-narrow', render: (r) => `${r.wins} / ${r.draws} / ${r.losses}` },
      { key: 'cpu_s_per_move', label: 'CPU s / move', num: true, className: 'hide-narrow', render: (r) => fmtNum(r.cpu_s_per_move, 4) },
      { key: 'history', label: 'History', sortable: false, render: (r) => h('button', { type: 'button', class: 'small secondary', 'aria-label': `Show the rating history of ${r.agent}`, onclick: () => onHistory(r.agent) }, 'Chart') },
    ],
  });
}

function efficiencyTable(rows, onHistory) {
  return sortableTable({
    caption: 'Rating against CPU time per move; Pareto: no other agent is both better rated and cheaper',
    rows,
    sortKey: 'rating',
    descending: true,
    empty: 'No rated agent yet.',
    columns: [
      { key: 'agent', label: 'Agent', render: (r) => agentLink(r.agent) },
      { key: 'rating', label: 'Rating', num: true, render: (r) => fmtRating(r.rating) },
      { key: 'cpu_s_per_move', label: 'CPU s / move', num: true, render: (r) => fmtNum(r.cpu_s_per_move, 4) },
      { key: 'pareto', label: 'Pareto front', value: (r) => (r.pareto ? 1 : 0), render: (r) => (r.pareto ? 'yes' : 'no') },
      { key: 'history', label: 'History', sortable: false, render: (r) => h('button', { type: 'button', class: 'small secondary', 'aria-label': `Show the rating history of ${r.agent}`, onclick: () => onHistory(r.agent) }, 'Chart') },
    ],
  });
}

export async function render(ctx) {
  add(ctx.main, h('h1', {}, 'Leaderboards'));
  const data = await boards();
  if (!ctx.isCurrent()) return;
  let board = ctx.query.get('board') || 'global';
  let agent = ctx.query.get('agent');

  const select = h('select', { name: 'board' }, boardOptions(data));
  select.value = board;
  if (select.value !== board) {
    board = 'global';
    select.value = board;
  }
  const tableHost = h('div', { class: 'board' }); // headers wrap: the board fits 1280 px
  const historyAgent = h('select', { name: 'agent' });
  const chartHost = h('div');

  function remember() {
    const query = new URLSearchParams({ board });
    if (agent) query.set('agent', agent);
    history.replaceState(null, '', `#/leaderboards?${query}`);
  }

  function drawChart() {
    add(clear(chartHost), agent ? historyChart(historySeries(data.history, [agent]), { title: `Rating history of ${agent}` })
      : h('p', { class: 'muted' }, 'No agent selected.'));
  }

  function showHistory(ref) {
    agent = ref;
    historyAgent.value = ref;
    remember();
    drawChart();
    document.getElementById('history-heading').scrollIntoView({ block: 'start' });
    historyAgent.focus();
  }

  function drawBoard() {
    const rows = rowsOf(data, board);
    const label = select.selectedOptions[0] ? select.selectedOptions[0].textContent : board;
    add(clear(tableHost), board === 'efficiency' ? efficiencyTable(rows, showHistory)
      : ratingTable(rows, `${label}: ${methodName(data.method)} over ${fmtInt(data.matches)} matches; bars show the 95% interval`, showHistory));
  }

  const agents = Object.keys(data.history || {}).sort();
  historyAgent.append(...agents.map((a) => h('option', { value: a }, a)));
  if (!agent || !agents.includes(agent)) agent = (rowsOf(data, board)[0] || {}).agent || agents[0] || null;
  if (agent) historyAgent.value = agent;

  select.addEventListener('change', () => {
    board = select.value;
    remember();
    drawBoard();
  });
  historyAgent.addEventListener('change', () => {
    agent = historyAgent.value;
    remember();
    drawChart();
  });

  // The boards are refitted in the background while matches arrive: say how fresh they are.
  const freshness = data.built_at
    ? h('p', { class: 'muted', id: 'boards-freshness' }, `Rated ${fmtInt(data.matches)} matches; refitted `, timeAgo(data.built_at), '.')
    : h('p', { class: 'muted', id: 'boards-freshness' }, 'No match rated yet.');
  add(ctx.main,
    h('div', { class: 'toolbar' }, field('Board', select)),
    freshness,
    tableHost,
    h('section', { 'aria-labelledby': 'history-heading' },
      h('h2', { id: 'history-heading' }, 'Rating history'),
      agents.length ? h('div', { class: 'toolbar' }, field('Agent', historyAgent)) : null,
      chartHost));
  drawBoard();
  drawChart();
}
