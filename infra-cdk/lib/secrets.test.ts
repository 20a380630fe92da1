import { actionsOf, statementsOfRole, synth } from './testing';

const IMPORTED_ARN = 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:tote/warehouse-AbC123';

describe('Secrets', () => {
  test('without context: two retained placeholder secrets in the RDS JSON shape', () => {
    const s = synth();
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    const secrets = s.template.findResources('AWS::SecretsManager::Secret');
    for (const secret of Object.values(secrets)) {
      expect(secret.DeletionPolicy).toBe('Retain');
      const generate = secret.Properties.GenerateSecretString;
      expect(generate.GenerateStringKey).toBe('password');
      expect(Object.keys(JSON.parse(generate.SecretStringTemplate)).sort()).toEqual(['dbname', 'host', 'port', 'username']);
    }
  });

  test('by name or ARN from context: imported, nothing created, stages get the imported ARNs', () => {
    const s = synth({ sourceSecret: 'tote/source', warehouseSecret: IMPORTED_ARN });
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          // Imported by name: the stage passes the name as SecretId (a partial ARN is discouraged).
          TOTE_SOURCE_SECRET_ARN: 'tote/source',
        },
      },
    });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { TOTE_WAREHOUSE_SECRET_ARN: IMPORTED_ARN } },
    });
    // IAM on a secret imported by name matches the name plus Secrets Manager's random suffix only.
    const ingestRole = s.logicalId(s.stack.stageFunctions.ingest.role!);
    const secretStatements = statementsOfRole(s.template, ingestRole).filter((st) =>
      actionsOf(st).some((a) => a.startsWith('secretsmanager:')),
    );
    expect(secretStatements).toHaveLength(1);
    expect(JSON.stringify(secretStatements[0].Resource)).toContain(':secret:tote/source-??????');
    const loadRole = s.logicalId(s.stack.stageFunctions.load.role!);
    const loadSecret = statementsOfRole(s.template, loadRole).filter((st) => actionsOf(st).some((a) => a.startsWith('secretsmanager:')));
    // The load reads both: the warehouse it loads, and the source for freshness.
    expect(loadSecret).toHaveLength(1);
    expect(JSON.stringify(loadSecret[0].Resource)).toContain(IMPORTED_ARN);
    expect(JSON.stringify(loadSecret[0].Resource)).toContain(':secret:tote/source-??????');
  });

  test('a partial ARN is refused with a message', () => {
    expect(() => synth({ warehouseSecret: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:tote/warehouse' })).toThrow(
      /not a complete secret ARN/,
    );
  });
});
