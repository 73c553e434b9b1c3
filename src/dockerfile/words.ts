/**
 * The word rules of Dockerfile arguments, as dockerd's classic builder applies them (its
 * shell lexer): words split on unquoted whitespace; quotes removed ('...' literal, "..." with
 * the escape character escaping `"`, `$` and itself); the escape character (`\` or the one
 * the `# escape=` directive chose) taking the next character literally; and environment
 * references expanded: `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternative}` (and
 * the colon-less `-` and `+` forms). Unset names expand to nothing.
 */

/** Looks a variable up; undefined when unset. */
export type VarLookup = (name: string) => string | undefined;

/** Split `s` into raw words on whitespace outside quotes (quotes and escapes kept as written). */
export function splitWords(s: string, escape = '\\'): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === escape && quote !== "'" && i + 1 < s.length) {
      cur += ch + s[++i];
      inWord = true;
      continue;
    }
    if (quote) {
      if (ch === quote) quote = undefined;
      cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
      inWord = true;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    cur += ch;
    inWord = true;
  }
  if (inWord) out.push(cur);
  return out;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** Expand one word: quotes removed, escapes applied, variables substituted. */
export function expandWord(word: string, lookup: VarLookup, escape = '\\'): string {
  let out = '';
  let i = 0;
  const variable = (): string => {
    // At s[i] === '$'.
    i++;
    if (word[i] === '{') {
      const end = word.indexOf('}', i);
      if (end < 0) throw new Error(`missing '}' in ${JSON.stringify(word)}`);
      const body = word.slice(i + 1, end);
      i = end + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-+])(.*))?$/s.exec(body);
      if (!m) throw new Error(`bad substitution: ${JSON.stringify('${' + body + '}')}`);
      const v = lookup(m[1]);
      if (!m[3]) return v ?? '';
      const set = m[2] === ':' ? v !== undefined && v !== '' : v !== undefined;
      const alt = expandWord(m[4], lookup, escape);
      if (m[3] === '-') return set ? (v as string) : alt;
      return set ? alt : '';
    }
    if (i < word.length && NAME_START.test(word[i])) {
      let name = '';
      while (i < word.length && NAME_CHAR.test(word[i])) name += word[i++];
      return lookup(name) ?? '';
    }
    return '$';
  };
  while (i < word.length) {
    const ch = word[i];
    if (ch === escape) {
      if (i + 1 < word.length) out += word[i + 1];
      i += 2;
      continue;
    }
    if (ch === "'") {
      const end = word.indexOf("'", i + 1);
      const stop = end < 0 ? word.length : end;
      out += word.slice(i + 1, stop);
      i = stop + 1;
      continue;
    }
    if (ch === '"') {
      i++;
      while (i < word.length && word[i] !== '"') {
        if (word[i] === escape && i + 1 < word.length && ['"', '$', escape].includes(word[i + 1])) {
          out += word[i + 1];
          i += 2;
        } else if (word[i] === '$') out += variable();
        else out += word[i++];
      }
      i++;
      continue;
    }
    if (ch === '$') {
      out += variable();
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

/** Split then expand: the arguments of EXPOSE, VOLUME (shell form), COPY/ADD sources... */
export function expandWords(s: string, lookup: VarLookup, escape = '\\'): string[] {
  return splitWords(s, escape).map((w) => expandWord(w, lookup, escape));
}

/**
 * `key=value` pairs (ENV, LABEL, ARG with a default), or the legacy `ENV key rest of line`
 * form when the first word has no `=` and `legacy` allows it. Values expanded.
 */
export function parseKeyValues(
  s: string,
  lookup: VarLookup,
  escape: string,
  what: string,
  legacy: boolean,
): Array<[string, string]> {
  const words = splitWords(s, escape);
  if (words.length === 0) throw new Error(`${what} requires at least one argument`);
  if (!words[0].includes('=')) {
    if (!legacy) throw new Error(`${what} names can not be blank`);
    const key = words[0];
    const rest = s.trimStart().slice(key.length).trim();
    if (!rest) throw new Error(`${what} must have two arguments`);
    return [[key, expandWord(rest, lookup, escape)]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw new Error(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    const key = expandWord(w.slice(0, eq), lookup, escape);
    if (!key) throw new Error(`${what} names can not be blank`);
    return [key, expandWord(w.slice(eq + 1), lookup, escape)];
  });
}
