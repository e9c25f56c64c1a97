// Runs a random sequence of RegExp operations, seeded by SEED, and returns
// a log of every result and every lastIndex as JSON. TestRegexpMemoMatchesGoja
// runs it in a plain goja runtime and in one with the memo, and compares.
(function (seed) {
  let state = seed >>> 0 || 1;
  const rnd = (n) => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state % n;
  };
  const pick = (a) => a[rnd(a.length)];

  const patterns = [
    ['Chrome\\/([0-9.]+)', ''],
    ['(?!Chrom.*OPR)Chrom(?:e|ium)\\/([0-9.]+)(:?\\s|$)', ''],
    ['(?=.*Mobile)(?=.*(iPhone|Android))', ''],
    ['iPad|Tablet|(?=.*Android)(?!.*Mobile)', ''],
    ['^Mozilla\\/\\d\\.\\d+\\s\\(compatible;', ''],
    ['(Windows NT 6.1)|(Win7)', ''],
    ['firefox', 'i'],
    ['^line', 'm'],
    ['a.b', 's'],
    ['a.b', ''],
    ['(a)\\1', ''],
    ['(?<major>\\d+)\\.(?<minor>\\d+)', ''],
    ['\\u{1F600}', 'u'],
    ['.', 'u'],
    ['.', ''],
    ['[._]', ''],
    ['[._]', 'g'],
    ['([a-z0-9])([A-Z])', 'g'],
    ['\\d+', 'y'],
    ['\\d+', 'gy'],
    ['(?<=a)b', ''],
    ['\\bSilk\\/([0-9._-]+)\\b', ''],
    ['$', ''],
    ['', ''],
    ['x*', ''],
    ['a/b', ''],
    ['\ud800', ''],
    ['\udc00', ''],
    ['\ufffd', ''],
    ['^.$', ''],
    ['é', 'i'],
  ];
  const fragments = [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) ', 'AppleWebKit/537.36 (KHTML, like Gecko) ',
    'Chrome/131.0.0.0 Safari/537.36', ' OPR/115.0.0.0', 'Mobile', ' Android 14', 'iPhone', 'iPad',
    'Firefox/133.0', 'FIREFOX', 'line one\nline two', 'a\nb', 'aab', 'aa', 'ab', '12.34', '1_2.3',
    'camelCaseWord', 'HTTPServer', '😀', 'é', 'É', '\ud800', '\udc00', '\ufffd', '\udc00x', '', ' ', '123abc456',
    'Silk/1.2-3 ', 'a/b', 'x',
  ];
  const inputs = [];
  for (let i = 0; i < 40; i++) {
    let s = '';
    const n = rnd(4);
    for (let j = 0; j < n; j++) s += pick(fragments);
    inputs.push(s);
  }
  inputs.push('Mozilla/5.0 '.repeat(120)); // longer than the memo keeps

  const log = [];
  const show = (v) => {
    if (v === null || v === undefined || typeof v !== 'object') return v === undefined ? 'undefined' : v;
    if (Array.isArray(v)) {
      return { array: Array.from(v, (x) => (x === undefined ? 'undefined' : x)), index: v.index, input: v.input,
        groups: v.groups === undefined ? 'undefined' : v.groups };
    }
    return String(v);
  };
  const record = (name, rx, f) => {
    let out;
    try {
      out = show(f());
    } catch (e) {
      out = 'throws ' + e.name + ': ' + e.message;
    }
    log.push([name, rx && String(rx), rx && typeof rx.lastIndex === 'number' ? rx.lastIndex : 'other', out]);
  };

  class Sub extends RegExp {}
  const shared = patterns.map(([p, f]) => new RegExp(p, f));
  let sideEffects = 0;
  const lastIndexValues = [0, 3, -1, 1e10, 0.5, '2', { valueOf() { sideEffects++; return 1; } }];

  // Pairs that share all but one part of the memo's key: the second must not
  // be answered with the first's result.
  const pairs = [
    [['firefox', '', 'FIREFOX'], ['firefox', 'i', 'FIREFOX']],
    [['^two', '', 'one\ntwo'], ['^two', 'm', 'one\ntwo']],
    [['a.b', '', 'a\nb'], ['a.b', 's', 'a\nb']],
    [['^.$', '', '😀'], ['^.$', 'u', '😀']],
    [['^.$', '', '\ud800'], ['^.$', '', '\udc00']],
    [['\ud800', '', '\ud800'], ['\udc00', '', '\ud800']],
    [['\ufffd', '', '\ufffd'], ['\ufffd', '', '\ud800']],
    [['\ud83d', '', '😀'], ['\ufffd', '', '😀']],
    [['^[\\ud800-\\udbff]$', '', '\ud800'], ['^[\\ud800-\\udbff]$', '', '\udc00']],
    [['a', '', 'a'], ['b', '', 'a']],
    [['a', '', 'a'], ['a', '', 'b']],
  ];
  for (const pair of pairs) {
    for (const [p, f, s] of pair) {
      const rx = new RegExp(p, f);
      record('pair', rx, () => rx.test(s));
    }
  }

  for (let step = 0; step < 2000; step++) {
    const [p, f] = pick(patterns);
    const rx = rnd(3) === 0 ? new RegExp(p, f) : rnd(10) === 0 ? new Sub(p, f) : shared[rnd(shared.length)];
    const s = pick(inputs);
    switch (rnd(16)) {
      case 0: case 1: case 2: case 3: case 4: case 5:
        record('test', rx, () => rx.test(s));
        break;
      case 6:
        record('exec', rx, () => rx.exec(s));
        break;
      case 7:
        record('match', rx, () => s.match(rx));
        break;
      case 8:
        record('replace', rx, () => s.replace(rx, '[$1]'));
        break;
      case 9:
        record('search', rx, () => s.search(rx));
        break;
      case 10:
        record('split', rx, () => s.split(rx));
        break;
      case 11: {
        const v = pick(lastIndexValues);
        record('lastIndex', rx, () => { rx.lastIndex = v; return rx.test(s); });
        break;
      }
      case 12: {
        const [p2, f2] = pick(patterns);
        record('compile', rx, () => { rx.compile(p2, f2); return rx.test(s); });
        break;
      }
      case 13: {
        const arg = pick([undefined, 42, null, { toString() { sideEffects++; return s; } }, new String(s)]);
        record('test-arg', rx, () => rx.test(arg));
        break;
      }
      case 14: {
        const revoked = Proxy.revocable(/a/, {});
        revoked.revoke();
        const that = pick([{}, null, 'str', RegExp.prototype, { exec() { return null; } }, revoked.proxy,
          new Proxy(rx, { get(t, k) { sideEffects++; return Reflect.get(t, k); } })]);
        record('test-this', null, () => RegExp.prototype.test.call(that, s));
        break;
      }
      case 15: {
        const own = new RegExp(p, f);
        Object.defineProperty(own, 'global', { value: !own.global });
        Object.defineProperty(own, 'source', { value: 'nothing' });
        own.exec = () => null;
        record('shadowed', own, () => own.test(s));
        break;
      }
    }
  }
  const frozen = Object.freeze(/a/g);
  record('frozen-g', frozen, () => frozen.test('aa'));
  const frozenPlain = Object.freeze(/a/);
  record('frozen', frozenPlain, () => frozenPlain.test('aa'));
  log.push(['side effects', sideEffects]);
  return JSON.stringify(log);
})(SEED);
