import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SecretReference } from './config';

/** Properties of {@link Secrets}. */
export interface SecretsProps {
  /** The ToteSys (source OLTP) credentials: imported when named, otherwise a placeholder. */
  readonly source: SecretReference;
  /** The warehouse credentials: imported when named, otherwise a placeholder. */
  readonly warehouse: SecretReference;
}

/**
 * The two database credentials as Secrets Manager secrets, in the RDS JSON shape
 * `{"host", "port", "username", "password", "dbname"}` that tote-io reads (tasks/io/src/secrets.rs).
 *
 * A secret named in context (by name or full ARN) is imported and left untouched; otherwise a
 * placeholder secret is created here (with a generated password and `CHANGE_ME` connection
 * fields) for the operator to fill with `aws secretsmanager put-secret-value` (docs/deploy.md).
 * Placeholders are retained on stack delete like the data they guard.
 */
export class Secrets extends Construct {
  /** Credentials of the ToteSys source database; only the ingest stage may read it. */
  public readonly source: secretsmanager.ISecret;
  /** Credentials of the warehouse database; only the load stage may read it. */
  public readonly warehouse: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: SecretsProps) {
    super(scope, id);
    this.source = this.secret('SourceSecret', 'ToteSys source database (read-only user)', props.source);
    this.warehouse = this.secret('WarehouseSecret', 'Star-schema warehouse database (loader user)', props.warehouse);
  }

  private secret(id: string, description: string, reference: SecretReference): secretsmanager.ISecret {
    const nameOrArn = reference.nameOrArn;
    if (nameOrArn !== undefined) {
      if (nameOrArn.startsWith('arn:')) {
        // A complete ARN (with Secrets Manager's random 6-character suffix) grants exactly that secret.
        if (!/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/.test(nameOrArn)) {
          throw new Error(`${id}: '${nameOrArn}' is not a complete secret ARN (…:secret:<name>-<6 characters>); pass the full ARN or the name`);
        }
        return secretsmanager.Secret.fromSecretCompleteArn(this, id, nameOrArn);
      }
      // By name, IAM grants match `<name>-??????`: the name plus Secrets Manager's random suffix.
      return secretsmanager.Secret.fromSecretNameV2(this, id, nameOrArn);
    }

    const placeholder = new secretsmanager.Secret(this, id, {
      description: `tote: ${description}. Placeholder: set the real value with aws secretsmanager put-secret-value.`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ host: 'CHANGE_ME', port: 5432, username: 'CHANGE_ME', dbname: 'CHANGE_ME' }),
        generateStringKey: 'password',
        excludePunctuation: true,
        passwordLength: 32,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(placeholder).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The database users belong to the ToteSys and warehouse owners, not to this stack: a rotation Lambda here ' +
        'would need admin rights on databases it does not manage. Rotation is done by the database owner, who ' +
        'then updates this secret (docs/deploy.md).',
    });
    return placeholder;
  }
}
