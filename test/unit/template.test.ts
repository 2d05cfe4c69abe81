import { describe, expect, it } from 'vitest';
import { renderTemplate, templatePlaceholders } from '../../firmware/src/boot-policy/template.js';

const fields = { mac: '52:54:00:00:00:01', ip: '10.0.0.11', name: 'node01', server: '10.0.0.1', serial: '10000000abcdef' };

describe('renderTemplate', () => {
  it('replaces every known placeholder, as often as it appears', () => {
    expect(renderTemplate('console=ttyS0 hostname={name} ip={ip}::{server}:255.255.255.0:{name}', fields)).toEqual({
      text: 'console=ttyS0 hostname=node01 ip=10.0.0.11::10.0.0.1:255.255.255.0:node01',
      unknown: [],
    });
    expect(renderTemplate('{mac}{serial}', fields).text).toBe('52:54:00:00:00:0110000000abcdef');
  });

  it('leaves unknown placeholders verbatim and reports each once, in order', () => {
    expect(renderTemplate('a={hostname} b={name} c={rack} d={hostname}', fields)).toEqual({
      text: 'a={hostname} b=node01 c={rack} d={hostname}',
      unknown: ['hostname', 'rack'],
    });
  });

  it('treats {{ as a literal brace', () => {
    expect(renderTemplate('{{mac} is {mac}', fields).text).toBe('{mac} is 52:54:00:00:00:01');
    expect(renderTemplate('{{{mac}', fields).text).toBe('{52:54:00:00:00:01');
    expect(renderTemplate('{{{{', fields).text).toBe('{{');
    // A lone closing brace is never special.
    expect(renderTemplate('}} {ip}}', fields).text).toBe('}} 10.0.0.11}');
  });

  it('does not treat non-identifiers in braces as placeholders', () => {
    expect(renderTemplate('{} {a b} {net0/mac} {1st} {-x}', fields)).toEqual({ text: '{} {a b} {net0/mac} {1st} {-x}', unknown: [] });
    expect(renderTemplate('{name', fields).text).toBe('{name');
  });

  it('inserts values once, never expanding placeholders inside them', () => {
    expect(renderTemplate('{name}', { name: '{ip}', ip: 'x' }).text).toBe('{ip}');
    expect(renderTemplate('{name}', { name: '$&$1$$' }).text).toBe('$&$1$$');
  });

  it('only looks at own fields, never Object.prototype', () => {
    expect(renderTemplate('{constructor} {toString} {__proto__}', {})).toEqual({
      text: '{constructor} {toString} {__proto__}',
      unknown: ['constructor', 'toString', '__proto__'],
    });
  });

  it('lists the placeholders a template uses', () => {
    expect(templatePlaceholders('{{mac} {ip} {name} {ip} {x_1}')).toEqual(['ip', 'name', 'x_1']);
  });
});
