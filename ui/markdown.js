// A small Markdown renderer of our own for what agents write: paragraphs,
// line breaks, headings, emphasis, strike, inline code, fenced code
// blocks, lists, quotes and links. It builds DOM nodes and text nodes
// only, never HTML from a string, so `<img onerror=…>` or `<script>` in a
// message is shown as the text it is. Links go to http(s) or mailto only,
// open in a new tab with rel="noopener noreferrer"; images are not loaded
// (shown as links).

import { el } from './state.js';

// Text with none of these needs no parsing: one text node.
const SPECIAL = /[`*_~[\]#>\n]|https?:|mailto:|^\s*([-+]|\d+[.)])\s/;

const INLINE = new RegExp([
  '(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)', //         1,2 code
  '\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*', //            3 strong
  '__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)', //             4 strong
  '\\*(?=[^\\s*])([\\s\\S]*?[^\\s*])\\*', //          5 em
  '(?<![\\w])_(?=[^\\s_])([\\s\\S]*?[^\\s_])_(?![\\w])', // 6 em
  '~~(?=\\S)([\\s\\S]*?\\S)~~', //                    7 del
  '!?\\[([^\\]\\n]{1,500})\\]\\(([^()\\s]{1,2000})\\)', // 8,9 link (or image)
  '((?:https?:\\/\\/|mailto:)[^\\s<>()]*[^\\s<>().,;:!?\'"])', // 10 bare url
].join('|'));

function safeUrl(raw) {
  try {
    const u = new URL(raw);
    return ['http:', 'https:', 'mailto:'].includes(u.protocol) ? u.href : null;
  } catch (e) {
    return null;
  }
}

function link(href, children) {
  return el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, ...children);
}

// Inline Markdown of one block's text, as nodes.
function inline(text, depth = 0) {
  const out = [];
  let rest = text;
  // Bounded: each round consumes at least one character of `rest`.
  while (rest) {
    const m = depth < 4 ? INLINE.exec(rest) : null;
    if (!m) { out.push(...breaks(rest)); break; }
    if (m.index > 0) out.push(...breaks(rest.slice(0, m.index)));
    const sub = (s) => inline(s, depth + 1);
    if (m[2] !== undefined) out.push(el('code', {}, m[2]));
    else if (m[3] !== undefined) out.push(el('strong', {}, ...sub(m[3])));
    else if (m[4] !== undefined) out.push(el('strong', {}, ...sub(m[4])));
    else if (m[5] !== undefined) out.push(el('em', {}, ...sub(m[5])));
    else if (m[6] !== undefined) out.push(el('em', {}, ...sub(m[6])));
    else if (m[7] !== undefined) out.push(el('del', {}, ...sub(m[7])));
    else if (m[8] !== undefined) {
      const href = safeUrl(m[9]);
      // Text that is not its own target shows the target beside it: a
      // link cannot read as one place and lead to another.
      const shown = m[8] === m[9] || m[8] === href ? [] : [el('span', { class: 'link-target' }, ` (${href})`)];
      out.push(href ? el('span', {}, link(href, sub(m[8])), ...shown) : m[0]);
    } else if (m[10] !== undefined) {
      const href = safeUrl(m[10]);
      out.push(href ? link(href, [m[10]]) : m[10]);
    }
    rest = rest.slice(m.index + Math.max(m[0].length, 1));
  }
  return out;
}

// Plain text with its line breaks kept.
function breaks(text) {
  const out = [];
  text.split('\n').forEach((line, i) => {
    if (i > 0) out.push(el('br'));
    if (line) out.push(line);
  });
  return out;
}

const FENCE = /^\s{0,3}(```+|~~~+)\s*([\w+-]*)\s*$/;
const BULLET = /^\s{0,3}([-+*])\s+(.*)$/;
const NUMBER = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

// Markdown text as a fragment of safe nodes.
export function render(text) {
  const frag = document.createDocumentFragment();
  if (!SPECIAL.test(text)) {
    frag.append(text);
    return frag;
  }
  const lines = text.split('\n');
  let i = 0;
  let para = [];
  const endPara = () => {
    if (para.length) frag.append(el('p', {}, ...inline(para.join('\n'))));
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      endPara();
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1; // the closing fence (or the end)
      const code = el('code', fence[2] ? { 'data-lang': fence[2] } : {}, body.join('\n'));
      frag.append(el('pre', {}, code));
      continue;
    }
    const list = BULLET.exec(line) ? BULLET : NUMBER.exec(line) ? NUMBER : null;
    if (list) {
      endPara();
      const first = list === NUMBER ? Number(NUMBER.exec(line)[1]) : null;
      const items = [];
      while (i < lines.length && list.exec(lines[i])) {
        let item = list.exec(lines[i])[2];
        i += 1;
        // Indented lines continue the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !list.exec(lines[i])) item += `\n${lines[i++].trim()}`;
        items.push(el('li', {}, ...inline(item)));
      }
      frag.append(list === NUMBER
        ? el('ol', first !== 1 ? { start: first } : {}, ...items)
        : el('ul', {}, ...items));
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      endPara();
      frag.append(el('p', { class: 'md-h' }, el('strong', {}, ...inline(heading[2]))));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      endPara();
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(QUOTE.exec(lines[i++])[1]);
      frag.append(el('blockquote', {}, ...inline(quoted.join('\n'))));
      continue;
    }
    if (!line.trim()) endPara();
    else para.push(line);
    i += 1;
  }
  endPara();
  return frag;
}

// Wraps each case-insensitive occurrence of `terms` in the text under
// `root` in a <mark>, splitting text nodes (never touching markup).
export function highlight(root, terms) {
  const words = terms.map((t) => t.toLowerCase()).filter(Boolean);
  if (!words.length) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.nodeValue;
    const lower = text.toLowerCase();
    const parts = [];
    let at = 0;
    // Bounded by the text's length: each round moves `at` forward.
    while (at < text.length) {
      let best = -1;
      let len = 0;
      for (const w of words) {
        const k = lower.indexOf(w, at);
        if (k !== -1 && (best === -1 || k < best)) { best = k; len = w.length; }
      }
      if (best === -1) break;
      if (best > at) parts.push(text.slice(at, best));
      parts.push(el('mark', {}, text.slice(best, best + len)));
      at = best + len;
    }
    if (!parts.length) continue;
    if (at < text.length) parts.push(text.slice(at));
    node.replaceWith(...parts);
  }
}
