// A small reStructuredText subset, rendered as elements (never parsed as HTML): what the
// scenarios' documentation pages use. Blocks: section titles (an unindented line over an
// indented body, at the top level), definition lists (the same, nested), paragraphs,
// bullet lists ("- " or "* "), literal blocks (after "::"), simple tables (columns
// between "=====  =====" borders) and indented blocks. Inline: ``literal``, `literal`,
// Sphinx roles (:meth:`~a.b.C.f` shows `f`), **strong** and *emphasis*.

import { h } from './dom.js';

const INLINE = /``(.+?)``|(?::[a-z]+:)?`(~?)([^`]+)`|\*\*(.+?)\*\*|(?<![\w*])\*([^*\s](?:[^*]*[^*\s])?)\*(?![\w*])/g;

/** Inline markup of one paragraph's text, as text and elements. */
export function inline(text) {
  const parts = [];
  let last = 0;
  for (const found of text.matchAll(INLINE)) {
    if (found.index > last) parts.push(text.slice(last, found.index));
    if (found[1] !== undefined) parts.push(h('code', {}, found[1]));
    else if (found[4] !== undefined) parts.push(h('strong', {}, found[4]));
    else if (found[5] !== undefined) parts.push(h('em', {}, found[5]));
    else parts.push(h('code', {}, found[2] ? found[3].split('.').pop() : found[3]));
    last = found.index + found[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

const indentOf = (line) => line.match(/^\s*/)[0].length;
const blank = (line) => !line.trim();
const BORDER = /^=+( +=+)*\s*$/;
const BULLET = /^[-*] /;

/** Remove the common indentation of lines (blank lines ignored). */
function dedent(lines) {
  const depth = Math.min(...lines.filter((l) => !blank(l)).map(indentOf));
  return lines.map((l) => l.slice(Number.isFinite(depth) ? depth : 0));
}

/** The lines from `start` on that are blank or indented deeper than `depth`. */
function indentedFrom(lines, start, depth = 0) {
  let end = start;
  while (end < lines.length && (blank(lines[end]) || indentOf(lines[end]) > depth)) end += 1;
  while (end > start && blank(lines[end - 1])) end -= 1;
  return end;
}

/** A simple table: columns are the runs of "=" of its first border. */
function table(lines) {
  const spans = [...lines[0].matchAll(/=+/g)].map((m) => m.index);
  const cellsOf = (line) => spans.map((start, i) => line.slice(start, spans[i + 1]).trim());
  const borders = lines.map((l, i) => (BORDER.test(l) ? i : -1)).filter((i) => i >= 0);
  const headed = borders.length >= 3;
  const head = headed ? lines.slice(borders[0] + 1, borders[1]) : [];
  const body = lines.slice(headed ? borders[1] + 1 : 1).filter((l) => !BORDER.test(l) && !blank(l));
  return h('div', { class: 'table-wrap rules-table', role: 'region', 'aria-label': 'Table', tabindex: '0' },
    h('table', {},
      head.length ? h('thead', {}, head.map((l) => h('tr', {}, cellsOf(l).map((c) => h('th', { scope: 'col' }, inline(c)))))) : null,
      h('tbody', {}, body.map((l) => h('tr', {}, cellsOf(l).map((c) => h('td', {}, inline(c))))))));
}

/** A bullet list starting at `lines[start]`; returns [element, next index]. */
function bullets(lines, start) {
  const items = [];
  let i = start;
  while (i < lines.length && BULLET.test(lines[i])) {
    const end = indentedFrom(lines, i + 1);
    items.push([lines[i].slice(2), ...lines.slice(i + 1, end)]);
    i = end;
    while (i < lines.length && blank(lines[i]) && BULLET.test(lines[i + 1] || '')) i += 1;
  }
  return [h('ul', {}, items.map((item) => h('li', {}, blocks(dedent(item))))), i];
}

/**
 * Blocks of dedented lines. At the top level a term over an indented body is a section
 * (heading and body); deeper it is a definition list item.
 */
function blocks(lines, top = false) {
  const out = [];
  let list = null; // the <dl> being filled by consecutive definitions
  let literalNext = false;
  let i = 0;
  while (i < lines.length) {
    if (blank(lines[i])) {
      i += 1;
      continue;
    }
    const line = lines[i];
    if (indentOf(line) > 0) { // an indented block: literal after "::", else a quote
      const end = indentedFrom(lines, i);
      const body = dedent(lines.slice(i, end));
      out.push(literalNext ? h('pre', { class: 'rules-pre' }, body.join('\n')) : h('blockquote', {}, blocks(body)));
      literalNext = false;
      list = null;
      i = end;
      continue;
    }
    literalNext = false;
    if (BORDER.test(line)) {
      let end = i + 1;
      while (end < lines.length && !blank(lines[end])) end += 1;
      out.push(table(lines.slice(i, end)));
      list = null;
      i = end;
      continue;
    }
    if (BULLET.test(line)) {
      const [element, next] = bullets(lines, i);
      out.push(element);
      list = null;
      i = next;
      continue;
    }
    const next = lines[i + 1] || '';
    if (!blank(next) && indentOf(next) > 0) { // a term over its indented definition
      const end = indentedFrom(lines, i + 1);
      const body = blocks(dedent(lines.slice(i + 1, end)));
      if (top) {
        out.push(h('h3', {}, inline(line.trim())), ...body);
      } else {
        if (!list) out.push(list = h('dl', { class: 'rules-dl' }));
        list.append(h('dt', {}, inline(line.trim())), h('dd', {}, body));
      }
      i = end;
      continue;
    }
    let end = i;
    while (end < lines.length && !blank(lines[end]) && indentOf(lines[end]) === 0) end += 1;
    let text = lines.slice(i, end).map((l) => l.trim()).join(' ');
    literalNext = text.endsWith('::');
    if (literalNext) text = text === '::' ? '' : text.replace(/\s*::$/, text.endsWith(' ::') ? '' : ':');
    if (text) out.push(h('p', {}, inline(text)));
    list = null;
    i = end;
  }
  return out;
}

/** A documentation page (reStructuredText subset) as a list of elements. */
export function renderRst(text) {
  const lines = String(text).replace(/\r\n?/g, '\n').replace(/\t/g, '    ').split('\n');
  return blocks(dedent(lines), true);
}
