import { Secrets } from './secrets';
import { actionsOf, buildUnit, functionStandIn, logicalId, statementsOfRole, testConfig, unitStack } from './testing';

const IMPORTED_ARN = 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:tote/warehouse-AbC123';

/**
 * The Secrets construct for the secret references of `context` in a unit stack, with a stand-in
 * function that reads both secrets as the load stage does.
 */
const secretsFor = (context: Record<string, unknown>) =>
  buildUnit((stack) => {
    const config = testConfig(context);
    const secrets = new Secrets(stack, 'Secrets', { source: config.sourceSecret, warehouse: config.warehouseSecret });
    const reader = functionStandIn(stack, 'Reader');
    secrets.source.grantRead(reader);
    secrets.warehouse.grantRead(reader);
    return { secrets, reader };
  });

describe('Secrets', () => {
  test('without context: two retained placeholder secrets in the RDS JSON shape', () => {
    const s = secretsFor({});
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    const secrets = s.template.findResources('AWS::SecretsManager::Secret');
    for (const secret of Object.values(secrets)) {
      expect(secret.DeletionPolicy).toBe('Retain');
      const generate = secret.Properties.GenerateSecretString;
      expect(generate.GenerateStringKey).toBe('password');
      expect(Object.keys(JSON.parse(generate.SecretStringTemplate)).sort()).toEqual(['dbname', 'host', 'port', 'username']);
    }
  });

  // Which stage gets which imported secret, and as what SecretId, is tested on the app (app.test.ts).
  test('by name or ARN from context: imported, nothing created, grants name exactly the imported secrets', () => {
    const s = secretsFor({ sourceSecret: 'tote/source', warehouseSecret: IMPORTED_ARN });
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    // By name only the name is known: its ARN ends in Secrets Manager's random suffix.
    expect(s.secrets.source.secretName).toBe('tote/source');
    expect(s.secrets.source.secretFullArn).toBeUndefined();
    expect(s.secrets.warehouse.secretFullArn).toBe(IMPORTED_ARN);
    // IAM on a secret imported by name matches the name plus Secrets Manager's random suffix only.
    const secretStatements = statementsOfRole(s.template, logicalId(s.reader.role!)).filter((st) =>
      actionsOf(st).some((a) => a.startsWith('secretsmanager:')),
    );
    expect(secretStatements).toHaveLength(1);
    expect(JSON.stringify(secretStatements[0].Resource)).toContain(IMPORTED_ARN);
    expect(JSON.stringify(secretStatements[0].Resource)).toContain(':secret:tote/source-??????');
  });

  test('a partial ARN is refused with a message', () => {
    const partial = testConfig({ warehouseSecret: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:tote/warehouse' });
    expect(() => new Secrets(unitStack(), 'Secrets', { source: partial.sourceSecret, warehouse: partial.warehouseSecret })).toThrow(
      /not a complete secret ARN/,
    );
  });
});
