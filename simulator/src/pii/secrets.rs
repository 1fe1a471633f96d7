//! Records that leak credentials (API keys, bearer tokens, JWTs, AWS keys) and
//! people's addresses, each in at least four contexts (see `leaks.rs`).

use super::content::{Draw, Level, Msg, Record, Seg};
use super::draw::{DIGITS, below, chars, pick};
use super::entities::{Entity, Person};
use super::lookalikes::Lookalike;

/// A record carrying `v`, a value of `e` (not a payment or identity entity).
pub(super) fn pii(d: &mut Draw, e: Entity, who: &Person, v: Seg) -> Record {
    match e {
        Entity::ApiKey => api_key(d, v),
        Entity::BearerToken => bearer(d, v),
        Entity::Jwt => jwt(d, v),
        Entity::AwsAccessKey => aws_access_key(d, v),
        Entity::AwsSecretKey => aws_secret_key(d, who, v),
        _ => address(d, who, v),
    }
}

fn api_key(d: &mut Draw, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 5) {
        0 => Record::new(
            Debug,
            "PaymentClient",
            m.t("calling provider with key ").s(v),
        ),
        1 => Record::new(Debug, "ConfigLoader", m.t("config loaded")).field("config.api_key", v),
        2 => Record::new(
            Warn,
            "ApiKeyFilter",
            m.t("rejected request with invalid API key ").s(v),
        ),
        3 => Record::new(Error, "PaymentClient", m.t("provider call failed")).fail(
            "ProviderAuthException",
            Msg::text("Invalid API Key provided: ").s(v),
            None,
        ),
        _ => Record::new(
            Debug,
            "HttpClient",
            m.t("outgoing request headers: X-Api-Key: ").s(v),
        ),
    }
}

/// `Authorization: Bearer <v>` as an outgoing header (a token or a JWT).
fn outgoing(v: Seg) -> Record {
    Record::new(
        Level::Debug,
        "HttpClient",
        Msg::text("outgoing request headers: Authorization: Bearer ").s(v),
    )
}

/// A proxied request's headers, the token inside a field.
fn forwarded(d: &mut Draw, v: Seg) -> Record {
    let upstream = pick(
        d.rng,
        &["orders.internal", "accounts.internal", "billing.svc"],
    );
    Record::new(
        Level::Debug,
        "GatewayFilter",
        Msg::text("forwarding request"),
    )
    .field("upstream.host", Seg::Text(upstream.to_string()))
    .field_msg("upstream.authorization", Msg::text("Bearer ").s(v))
}

fn bearer(d: &mut Draw, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 6) {
        0 => outgoing(v),
        1 => Record::new(
            Warn,
            "AuthFilter",
            m.t("rejected Authorization: Bearer ")
                .s(v)
                .t(" (token expired)"),
        ),
        2 => Record::new(
            Debug,
            "OAuthClient",
            m.t("token response: access_token=")
                .s(v)
                .t("&token_type=Bearer&expires_in=3600"),
        ),
        3 => Record::new(
            Debug,
            "WebSocketHandler",
            m.t("upgrade request GET /ws/notifications?access_token=")
                .s(v),
        ),
        4 => Record::new(
            Warn,
            "ProxyHandler",
            m.t("upstream returned 401 for Authorization: Bearer ").s(v),
        ),
        _ => forwarded(d, v),
    }
}

fn jwt(d: &mut Draw, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 5) {
        0 => outgoing(v),
        1 => Record::new(Debug, "SessionStore", m.t("session cookie set"))
            .field("session.id_token", v),
        2 => {
            let at = d.look(Lookalike::Timestamp);
            Record::new(Error, "JwtAuthFilter", m.t("authentication failed")).fail(
                "ExpiredJwtException",
                Msg::text("JWT expired at ").s(at).t(", token ").s(v),
                None,
            )
        }
        3 => Record::new(Debug, "OidcCallback", m.t("id_token received: ").s(v)),
        _ => forwarded(d, v),
    }
}

fn aws_access_key(d: &mut Draw, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 4) {
        0 => Record::new(
            Debug,
            "S3Uploader",
            m.t("S3 client configured with access key ").s(v),
        ),
        1 => Record::new(
            Debug,
            "ConfigLoader",
            m.t("env AWS_ACCESS_KEY_ID=")
                .s(v)
                .t(" AWS_REGION=eu-west-1"),
        ),
        2 => Record::new(Error, "S3Uploader", m.t("upload failed")).fail(
            "AmazonS3Exception",
            Msg::text("The AWS Access Key Id you provided does not exist in our records. ")
                .t("(Service: Amazon S3; Status Code: 403; AWS Access Key Id: ")
                .s(v)
                .t(")"),
            None,
        ),
        _ => {
            let at = d.look(Lookalike::Timestamp);
            let account = chars(d.rng, 12, DIGITS);
            Record::new(
                Info,
                "StsClient",
                m.t(&format!(
                    "assumed role arn:aws:iam::{account}:role/app-deployer"
                )),
            )
            .field("credentials.access_key_id", v)
            .field("credentials.expiration", at)
        }
    }
}

fn aws_secret_key(d: &mut Draw, who: &Person, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    let id = d.pii(Entity::AwsAccessKey, who);
    match below(d.rng, 4) {
        0 => Record::new(
            Debug,
            "ConfigLoader",
            m.t("env AWS_ACCESS_KEY_ID=")
                .s(id)
                .t(" AWS_SECRET_ACCESS_KEY=")
                .s(v),
        ),
        1 => Record::new(
            Debug,
            "S3Uploader",
            m.t("signing request with secret key ").s(v),
        ),
        2 => Record::new(
            Debug,
            "ConfigLoader",
            m.t("loaded profile default from ~/.aws/credentials"),
        )
        .field("aws.access_key_id", id)
        .field("aws.secret_access_key", v),
        _ => {
            let at = d.look(Lookalike::Timestamp);
            Record::new(Debug, "StsClient", m.t("temporary credentials issued"))
                .field("credentials.access_key_id", id)
                .field("credentials.secret_access_key", v)
                .field("credentials.expiration", at)
        }
    }
}

/// A person's IP address (a private one in a twin: an internal client).
fn address(d: &mut Draw, who: &Person, v: Seg) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 5) {
        0 => {
            let mail = d.pii(Entity::Email, who);
            Record::new(
                Info,
                "AuthFilter",
                m.t("login from ").s(v).t(" for ").s(mail),
            )
        }
        1 => Record::new(
            Warn,
            "RateLimiter",
            m.t("rate limit exceeded for client ").s(v),
        ),
        2 => Record::new(Info, "AuthFilter", m.t("session started")).field("client.ip", v),
        3 => {
            let (country, city) = *pick(
                d.rng,
                &[
                    ("DE", "Berlin"),
                    ("FR", "Lyon"),
                    ("US", "Austin"),
                    ("GB", "Leeds"),
                ],
            );
            Record::new(
                Debug,
                "GeoIpService",
                m.t("geoip lookup ")
                    .s(v)
                    .t(&format!(" -> country={country} city={city}")),
            )
        }
        _ => {
            let orders = d.n(4, 12);
            Record::new(
                Warn,
                "FraudCheck",
                m.t("blocked checkout from ")
                    .s(v)
                    .t(&format!(": velocity rule ({orders} orders in 10 min)")),
            )
        }
    }
}
