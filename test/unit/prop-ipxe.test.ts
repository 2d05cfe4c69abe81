// Property tests for iPXE script text: no value can leave its line or token, whatever a
// profile, node name, URL or requested profile contains (fast-check). The whole-script
// check is the fuzz target's (test/fuzz/targets/ipxe-script.ts), here with structured input.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipxeText, ipxeUrl, ipxeWord } from '../../firmware/src/http/ipxe-script.js';
import { renderTemplate } from '../../firmware/src/boot-policy/template.js';
import { fuzz as checkWholeScript } from '../fuzz/targets/ipxe-script.js';

const hostile = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc
    .array(
      fc.constantFrom('${', '}', '{name}', '{{', '||', '&&', ';', '#', '\\', '\n', '\r', '\t', ' ', '-', '%', '%0a', 'goto', 'shell', 'é', '\u0000', 'x'),
      { maxLength: 12 },
    )
    .map((parts) => parts.join('')),
);

describe('iPXE escaping properties', () => {
  it('ipxeText leaves no control character, setting expansion, separator token, comment token or continuation', () => {
    fc.assert(
      fc.property(hostile, (value) => {
        const text = ipxeText(value);
        expect(text).not.toMatch(/[\u0000-\u001f\u007f]/);
        expect(text).not.toContain('${');
        expect(text.endsWith('\\')).toBe(false);
        for (const token of text.split(' ')) {
          expect(['||', '&&', ';']).not.toContain(token);
          expect(token.startsWith('#')).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('ipxeWord is exactly one token that is not an option', () => {
    fc.assert(
      fc.property(hostile, (value) => {
        const word = ipxeWord(value);
        expect(word).not.toMatch(/[ \u0000-\u001f\u007f]/);
        expect(word.startsWith('-')).toBe(false);
        expect(word.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
  });

  it('ipxeUrl is one token of URI characters and valid escapes', () => {
    fc.assert(
      fc.property(hostile, (value) => {
        const url = ipxeUrl(value);
        expect(url).toMatch(/^([A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/);
        expect(url).not.toContain('${');
        expect(/^[#\-;&]/.test(url)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('templates expand in one pass: a value that looks like a placeholder stays literal', () => {
    fc.assert(
      fc.property(hostile, hostile, (name, ip) => {
        const { text } = renderTemplate('a={name} b={ip}', { name, ip });
        expect(text).toBe(`a=${name} b=${ip}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('whole scripts keep their shape for hostile profiles and nodes', () => {
    fc.assert(
      fc.property(fc.nat(255), fc.array(hostile, { minLength: 13, maxLength: 13 }), (selector, values) => {
        checkWholeScript(Buffer.concat([Buffer.from([selector]), Buffer.from(values.join('\0'), 'utf8')]));
      }),
      { numRuns: 2000 },
    );
  });
});
