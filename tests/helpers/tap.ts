// The type of a tap subtest (`t` inside `t.test(...)`), for the suites' helpers that take one.
export type TapTest = Parameters<Parameters<import('tap').TAP['test']>[0]>[0];
