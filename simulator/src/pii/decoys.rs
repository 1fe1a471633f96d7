//! Records whose only suspicious values are lookalikes, in the contexts where such
//! values occur (orders, invoices, HDFS, deploys, connection pools, schedulers). The
//! negative twins of PII contexts are made by `leaks.rs` with `Draw::twin` set.

use super::content::{Draw, Level, Msg, Record};
use super::draw::{below, pick};
use super::entities::Entity;
use super::lookalikes::Lookalike;

/// A record whose only suspicious values are lookalikes.
pub(super) fn lookalike(d: &mut Draw) -> Record {
    use Level::*;
    use Lookalike as L;
    let m = Msg::default();
    match below(d.rng, 28) {
        0 => Record::new(
            Info,
            "OrderService",
            m.t("order ")
                .s(d.look(L::OrderNumber))
                .t(" shipped via UPS"),
        ),
        1 => Record::new(
            Info,
            "BillingJob",
            m.t("invoice #").s(d.look(L::InvoiceNumber)).t(" paid"),
        ),
        2 => {
            let (blk, a, pa, b, pb) = (
                d.look(L::BlockId),
                d.look(L::PrivateIp),
                d.look(L::Port),
                d.look(L::PrivateIp),
                d.look(L::Port),
            );
            Record::new(
                Info,
                "DataNode",
                m.t("Receiving block ")
                    .s(blk)
                    .t(" src: /")
                    .s(a)
                    .t(" port ")
                    .s(pa)
                    .t(" dest: /")
                    .s(b)
                    .t(" port ")
                    .s(pb),
            )
        }
        3 => {
            let ms = d.n(2, 900);
            Record::new(
                Info,
                "RequestLogger",
                m.t("request ")
                    .s(d.look(L::Uuid))
                    .t(&format!(" completed in {ms} ms")),
            )
        }
        4 => Record::new(Info, "Deployer", m.t("deployed commit ").s(d.look(L::Hash))),
        5 => Record::new(
            Info,
            "Scheduler",
            m.t("cache entry expires_at=").s(d.look(L::Epoch)),
        ),
        6 => Record::new(
            Info,
            "Scheduler",
            m.t("next run at ").s(d.look(L::Timestamp)),
        ),
        7 => Record::new(
            Info,
            "Updater",
            m.t("upgraded agent to ").s(d.look(L::Version)),
        ),
        8 => Record::new(
            Info,
            "DbPool",
            m.t("connected to postgres at ")
                .s(d.look(L::PrivateIp))
                .t(" port ")
                .s(d.look(L::Port)),
        ),
        9 => Record::new(
            Info,
            "AuthFilter",
            m.t("user ").s(d.look(L::SystemAccount)).t(" logged in"),
        ),
        10 => Record::new(Info, "RequestLogger", m.t("request accepted"))
            .field("request.id", d.look(L::RequestId)),
        11 => Record::new(
            Warn,
            "RateLimiter",
            m.t("rate limit exceeded for client ")
                .s(d.look(L::PrivateIp)),
        ),
        12 => Record::new(
            Info,
            "BillingJob",
            m.t("invoice #")
                .s(d.look(L::InvoiceNumber))
                .t(" for order ")
                .s(d.look(L::OrderNumber))
                .t(" sent"),
        ),
        13 => {
            let cents = d.n(100, 20_000);
            Record::new(
                Info,
                "RefundService",
                m.t("order ")
                    .s(d.look(L::OrderNumber))
                    .t(&format!(" refunded amount={cents} currency=EUR")),
            )
        }
        14 => Record::new(Info, "PaymentService", m.t("payment settled"))
            .field("payment.id", d.look(L::Uuid))
            .field("payment.order_id", d.look(L::OrderNumber)),
        15 => Record::new(
            Info,
            "StripeWebhook",
            m.t("webhook received").t(" (type=charge.succeeded)"),
        )
        .field("event.id", d.look(L::RequestId))
        .field("event.created", d.look(L::Epoch)),
        16 => Record::new(
            Info,
            "BackupJob",
            m.t("snapshot ")
                .s(d.look(L::Hash))
                .t(" uploaded to s3://backups/db/"),
        ),
        17 => Record::new(
            Info,
            "SecretsRotator",
            m.t("rotated credentials for service account ")
                .s(d.look(L::SystemAccount)),
        ),
        18 => {
            let (ip, port) = (d.look(L::PrivateIp), d.look(L::Port));
            let what = pick(d.rng, &["redis", "kafka broker", "elasticsearch"]);
            Record::new(
                Info,
                "ConnectionManager",
                m.t(&format!("{what} at "))
                    .s(ip)
                    .t(":")
                    .s(port)
                    .t(" reconnected"),
            )
        }
        19 => Record::new(
            Info,
            "Deployer",
            m.t("release ")
                .s(d.look(L::Version))
                .t(" rolled out by ")
                .s(d.look(L::SystemAccount)),
        ),
        20 => Record::new(Info, "BillingJob", m.t("invoice issued"))
            .field("invoice.number", d.look(L::InvoiceNumber))
            .field("invoice.due", d.look(L::Timestamp)),
        21 => Record::new(
            Debug,
            "SessionStore",
            m.t("session ")
                .s(d.look(L::Uuid))
                .t(" expires at ")
                .s(d.look(L::Epoch)),
        ),
        22 => Record::new(
            Debug,
            "DnsResolver",
            m.t("db.internal resolved to ").s(d.look(L::PrivateIp)),
        ),
        23 => {
            let ms = d.n(10, 90_000);
            Record::new(
                Info,
                "JobRunner",
                m.t("job ")
                    .s(d.look(L::RequestId))
                    .t(&format!(" finished in {ms} ms")),
            )
        }
        24 => Record::new(
            Info,
            "DataNode",
            m.t("Verification succeeded for ").s(d.look(L::BlockId)),
        ),
        25 => Record::new(
            Info,
            "Scheduler",
            m.t("maintenance window starts ").s(d.look(L::Timestamp)),
        ),
        26 => Record::new(
            Info,
            "CheckoutService",
            m.t("payment method on file for order ")
                .s(d.look(L::OrderNumber))
                .t(": card ")
                .s(d.stand_in(Entity::CreditCard)),
        ),
        _ => Record::new(Debug, "HttpClient", m.t("outgoing request headers"))
            .field("headers.x_request_id", d.look(L::RequestId))
            .field_msg(
                "headers.user_agent",
                Msg::text("okhttp/").s(d.look(L::Version)),
            ),
    }
}
