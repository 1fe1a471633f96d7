//! Records that leak nothing: ordinary traffic, lookalikes in the contexts where they
//! occur, and the host's own daemons in a syslog file.

use super::content::{Carry, Draw, Level, Msg, Record};
use super::draw::{below, between};
use super::entities::Entity;
use super::lookalikes::Lookalike;

/// A record whose only suspicious values are lookalikes.
pub(super) fn lookalike(d: &mut Draw) -> Record {
    use Level::*;
    use Lookalike as L;
    let m = Msg::default();
    match below(d.rng, 13) {
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
        _ => Record::new(
            Info,
            "BillingJob",
            m.t("invoice #")
                .s(d.look(L::InvoiceNumber))
                .t(" for order ")
                .s(d.look(L::OrderNumber))
                .t(" sent"),
        ),
    }
}

/// Ordinary traffic: small numbers, nothing a PII pattern would flag.
pub(super) fn clean(d: &mut Draw) -> Record {
    use Level::*;
    let m = Msg::default();
    // Mostly info and debug; warnings and errors (with a stack trace) are rarer.
    let roll = d.rng.unit();
    let template = if roll < 0.02 {
        8
    } else if roll < 0.1 {
        below(d.rng, 2) + 5
    } else {
        *super::draw::pick(d.rng, &[0, 1, 2, 3, 4, 7])
    };
    match template {
        0 => Record::new(
            Info,
            "GcMonitor",
            m.t(&format!("GC pause {} ms (young)", d.n(1, 80))),
        ),
        1 => Record::new(
            Info,
            "CacheStats",
            m.t(&format!("cache hit ratio 0.{}", d.n(50, 99))),
        ),
        2 => Record::new(Debug, "HealthReporter", m.t("health check ok")),
        3 => Record::new(
            Info,
            "Consumer",
            m.t(&format!(
                "processed {} messages in {} ms",
                d.n(1, 500),
                d.n(1, 900)
            )),
        ),
        4 => {
            let (a, i) = (between(d.rng, 0, 40), between(d.rng, 0, 20));
            Record::new(Debug, "DbPool", m.t("pool stats"))
                .num("pool.active", a)
                .num("pool.idle", i)
        }
        5 => Record::new(
            Warn,
            "HttpClient",
            m.t(&format!(
                "retrying in {}s (attempt {}/5)",
                d.n(1, 30),
                d.n(1, 4)
            )),
        ),
        6 => Record::new(
            Warn,
            "HttpClient",
            m.t(&format!("upstream timed out after {} ms", d.n(500, 30_000))),
        ),
        7 => Record::new(
            Info,
            "Scheduler",
            m.t(&format!("flushed {} rows to warehouse", d.n(10, 5000))),
        ),
        _ => Record::new(Error, "Consumer", m.t("message handling failed")).fail(
            "MessageRejectedException",
            Msg::text("payload schema mismatch"),
            Some("java.net.SocketTimeoutException: Read timed out"),
        ),
    }
}

/// Lines of the host's own daemons in a syslog file: sshd, sudo, CRON, systemd,
/// postfix. `carry` picks what the record carries.
pub(super) fn system(d: &mut Draw, carry: Carry) -> Record {
    use Level::*;
    let pid = between(d.rng, 400, 40_000) as u32;
    use Lookalike as L;
    let m = Msg::default();
    match carry {
        Carry::Pii(Entity::Email) => {
            let who = d.person();
            let (ip, mail) = (d.pii(Entity::Ipv4, &who), d.pii(Entity::Email, &who));
            Record::new(
                Info,
                "smtpd",
                m.t("NOQUEUE: reject: RCPT from unknown[")
                    .s(ip)
                    .t("]: 554 5.7.1 <")
                    .s(mail)
                    .t(">: Relay access denied"),
            )
            .program("postfix/smtpd", 2, pid)
        }
        Carry::Pii(e) => {
            let who = d.person();
            let (ip, port) = (d.pii(e, &who), d.look(L::Port));
            Record::new(
                Info,
                "sshd",
                m.t("Failed password for invalid user admin from ")
                    .s(ip)
                    .t(" port ")
                    .s(port)
                    .t(" ssh2"),
            )
            .program("sshd", 10, pid)
        }
        Carry::Look if below(d.rng, 2) == 0 => {
            let (user, ip, port) = (
                d.look(L::SystemAccount),
                d.look(L::PrivateIp),
                d.look(L::Port),
            );
            Record::new(
                Info,
                "sshd",
                m.t("Accepted publickey for ")
                    .s(user)
                    .t(" from ")
                    .s(ip)
                    .t(" port ")
                    .s(port)
                    .t(" ssh2"),
            )
            .program("sshd", 10, pid)
        }
        Carry::Look => {
            let user = d.look(L::SystemAccount);
            let cmd =
                " : TTY=pts/0 ; PWD=/srv ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx";
            Record::new(Info, "sudo", m.s(user).t(cmd)).program("sudo", 10, pid)
        }
        Carry::Clean if below(d.rng, 2) == 0 => {
            Record::new(Info, "CRON", m.t("(root) CMD (/usr/local/bin/backup.sh)"))
                .program("CRON", 9, pid)
        }
        Carry::Clean => Record::new(
            Info,
            "systemd",
            m.t("Started Daily apt upgrade and clean activities."),
        )
        .program("systemd", 3, pid),
    }
}
