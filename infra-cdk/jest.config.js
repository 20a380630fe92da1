/** jest for the CDK constructs: tests live beside the constructs in lib/. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/lib'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // isolatedModules: transpile only; `npm run build` (tsc --noEmit) does the type check.
    '^.+\\.tsx?$': ['ts-jest', { isolatedModules: true }],
  },
};
