'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');

// The names a declaration file exports as values (classes, functions, constants).
function declaredValues(file) {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/^export declare (?:class|function|const) (\w+)/gm)].map((m) => m[1]).sort();
}

test('require() and import give the same implementation, for the package and its testing entry', async () => {
  const cjs = require('agtp-runtime');
  const esm = await import('agtp-runtime');
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).sort());
  for (const name of Object.keys(cjs)) assert.equal(esm[name], cjs[name], name);
  const cjsTesting = require('agtp-runtime/testing');
  const esmTesting = await import('agtp-runtime/testing');
  assert.equal(esmTesting.TestDaemon, cjsTesting.TestDaemon);
});

test('the declaration files declare exactly the values each entry point exports', () => {
  assert.deepEqual(declaredValues('index.d.ts'), Object.keys(require('agtp-runtime')).sort());
  assert.deepEqual(declaredValues('testing.d.ts'), Object.keys(require('agtp-runtime/testing')).sort());
});

test('the declarations type-check against code that uses the whole public API', () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = execFileSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types', 'tsconfig.json')], {
    encoding: 'utf8',
  });
  assert.equal(result, '');
});

test('npm pack ships the library, the runner, the declarations and the README, and nothing else', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  const files = JSON.parse(out)[0].files.map((f) => f.path).sort();
  const expected = [
    'README.md',
    'bin/agtp-runtime.js',
    'index.d.ts',
    'package.json',
    'testing.d.ts',
    ...fs.readdirSync(path.join(ROOT, 'lib')).map((f) => `lib/${f}`),
  ].sort();
  assert.deepEqual(files, expected);
});

test('the package has no runtime dependencies and declares its engines, bin and optional MessagePack', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.engines.node, '>=18');
  assert.equal(pkg.bin['agtp-runtime'], 'bin/agtp-runtime.js');
  assert.equal(pkg.peerDependenciesMeta['@msgpack/msgpack'].optional, true);
  const mode = fs.statSync(path.join(ROOT, pkg.bin['agtp-runtime'])).mode;
  assert.ok(mode & 0o111, 'the runner is executable');
});
