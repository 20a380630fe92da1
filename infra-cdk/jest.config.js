/** jest for the CDK constructs: tests live beside the constructs in lib/. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/lib'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // tsconfig has isolatedModules, so ts-jest transpiles only; `tsc --noEmit` (scripts/test-infra) type-checks.
    '^.+\\.tsx?$': 'ts-jest',
  },
};
