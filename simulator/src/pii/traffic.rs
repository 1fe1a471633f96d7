//! Records that carry nothing: ordinary traffic (under the same loggers that leak,
//! so a logger's name says nothing), and the host's own daemons in a syslog file.

use super::content::{Carry, Draw, Level, Msg, Record, Seg};
use super::draw::{below, between, pick};
use super::entities::Entity;
use super::lookalikes::Lookalike;

/// Ordinary traffic: small numbers, nothing a PII pattern would flag. Mostly info and
/// debug; warnings (8 %) and errors with a stack trace (2 %) are rarer.
pub(super) fn clean(d: &mut Draw) -> Record {
    let roll = d.rng.unit();
    if roll < 0.02 {
        failure(d)
    } else if roll < 0.1 {
        warning(d)
    } else {
        ordinary(d)
    }
}

fn ordinary(d: &mut Draw) -> Record {
    use Level::*;
    let m = Msg::default();
    let n = |d: &mut Draw, lo, hi| d.n(lo, hi);
    match below(d.rng, 16) {
        0 => Record::new(
            Info,
            "GcMonitor",
            m.t(&format!("GC pause {} ms (young)", n(d, 1, 80))),
        ),
        1 => Record::new(
            Info,
            "CacheStats",
            m.t(&format!("cache hit ratio 0.{}", n(d, 50, 99))),
        ),
        2 => Record::new(Debug, "HealthReporter", m.t("health check ok")),
        3 => Record::new(
            Info,
            "Consumer",
            m.t(&format!(
                "processed {} messages in {} ms",
                n(d, 1, 500),
                n(d, 1, 900)
            )),
        ),
        4 => {
            let (a, i) = (between(d.rng, 0, 40), between(d.rng, 0, 20));
            Record::new(Debug, "DbPool", m.t("pool stats"))
                .num("pool.active", a)
                .num("pool.idle", i)
        }
        5 => Record::new(
            Info,
            "Scheduler",
            m.t(&format!("flushed {} rows to warehouse", n(d, 10, 5000))),
        ),
        6 => {
            let (total, active) = (between(d.rng, 10, 20), between(d.rng, 0, 9));
            Record::new(
                Debug,
                "HikariPool",
                m.t(&format!(
                    "HikariPool-1 - Pool stats (total={total}, active={active}, idle={}, waiting=0)",
                    total - active
                )),
            )
        }
        7 => Record::new(
            Info,
            "KafkaConsumer",
            m.t(&format!(
                "partitions assigned: [orders-{}, orders-{}]",
                n(d, 0, 5),
                n(d, 6, 11)
            )),
        ),
        8 => {
            let items = between(d.rng, 1, 9);
            Record::new(Info, "CheckoutService", m.t("cart checked out"))
                .num("cart.items", items)
                .num("cart.total_cents", between(d.rng, 500, 90_000))
        }
        9 => Record::new(
            Info,
            "NotificationSender",
            m.t(&format!("email queue drained ({} sent)", n(d, 1, 400))),
        ),
        10 => Record::new(
            Debug,
            "ProfileController",
            m.t(&format!("GET /api/v1/profile 200 in {} ms", n(d, 2, 90))),
        ),
        11 => Record::new(
            Info,
            "AuthFilter",
            m.t(&format!(
                "token cache refreshed ({} entries)",
                n(d, 10, 900)
            )),
        ),
        12 => {
            let flag = pick(d.rng, &["checkout.v2", "search.rerank", "wallet.apple_pay"]);
            let on = pick(d.rng, &["true", "false"]);
            Record::new(
                Debug,
                "FeatureFlags",
                m.t(&format!("flag {flag} evaluated to {on}")),
            )
        }
        13 => Record::new(
            Info,
            "SessionStore",
            m.t(&format!("expired {} idle sessions", n(d, 1, 300))),
        ),
        14 => Record::new(Debug, "ConfigLoader", m.t("config reloaded"))
            .num("config.generation", between(d.rng, 2, 400)),
        _ => Record::new(
            Info,
            "MetricsExporter",
            m.t(&format!("exported {} series", n(d, 100, 4000))),
        ),
    }
}

fn warning(d: &mut Draw) -> Record {
    use Level::*;
    let m = Msg::default();
    match below(d.rng, 4) {
        0 => Record::new(
            Warn,
            "HttpClient",
            m.t(&format!(
                "retrying in {}s (attempt {}/5)",
                d.n(1, 30),
                d.n(1, 4)
            )),
        ),
        1 => Record::new(
            Warn,
            "HttpClient",
            m.t(&format!("upstream timed out after {} ms", d.n(500, 30_000))),
        ),
        2 => Record::new(
            Warn,
            "KycClient",
            m.t(&format!(
                "provider responded slowly ({} ms)",
                d.n(2000, 9000)
            )),
        ),
        _ => Record::new(
            Warn,
            "S3Uploader",
            m.t(&format!("multipart upload retry {}/5", d.n(1, 4))),
        ),
    }
}

fn failure(d: &mut Draw) -> Record {
    use Level::*;
    let m = Msg::default();
    if below(d.rng, 2) == 0 {
        return Record::new(Error, "Consumer", m.t("message handling failed")).fail(
            "MessageRejectedException",
            Msg::text("payload schema mismatch"),
            Some("java.net.SocketTimeoutException: Read timed out"),
        );
    }
    Record::new(Error, "ProfileController", m.t("profile update failed")).fail(
        "OptimisticLockingFailureException",
        Msg::text("Row was updated or deleted by another transaction"),
        None,
    )
}

/// Lines of the host's own daemons in a syslog file: sshd, sudo, CRON, systemd,
/// postfix. `carry` picks what the record carries; in a twin (`Draw::twin`) the
/// addresses are the network's own (an internal scanner, a relay).
pub(super) fn system(d: &mut Draw, carry: Carry) -> Record {
    use Level::*;
    use Lookalike as L;
    let pid = between(d.rng, 400, 40_000) as u32;
    let m = Msg::default();
    match carry {
        Carry::Pii(Entity::Email) => {
            let who = d.person();
            let ip = if d.twin {
                d.look(L::PrivateIp)
            } else {
                d.pii(Entity::Ipv4, &who)
            };
            // Postfix logs the envelope as sent: a relay's mail is a system mailbox.
            let mail = if d.twin {
                Seg::Look(L::SystemAccount, mailbox(d))
            } else {
                d.pii(Entity::Email, &who)
            };
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
            // Twins ask for a private address: a masked one would not be logged.
            let who = d.person();
            let ip = if d.twin {
                d.look(L::PrivateIp)
            } else {
                d.pii(e, &who)
            };
            let port = d.look(L::Port);
            let (msg, tail) = match below(d.rng, 3) {
                0 => (m.t("Failed password for invalid user admin from "), " ssh2"),
                1 => {
                    let user = pick(d.rng, &["oracle", "test", "ubnt", "git"]);
                    (m.t(&format!("Invalid user {user} from ")), "")
                }
                _ => (
                    m.t("Connection closed by authenticating user root "),
                    " [preauth]",
                ),
            };
            Record::new(Info, "sshd", msg.s(ip).t(" port ").s(port).t(tail))
                .program("sshd", 10, pid)
        }
        Carry::Look => {
            let user = d.look(L::SystemAccount);
            match below(d.rng, 4) {
                0 => {
                    let (ip, port) = (d.look(L::PrivateIp), d.look(L::Port));
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
                1 => {
                    let cmd = " : TTY=pts/0 ; PWD=/srv ; USER=root ; \
                               COMMAND=/usr/bin/systemctl restart nginx";
                    Record::new(Info, "sudo", m.s(user).t(cmd)).program("sudo", 10, pid)
                }
                2 => Record::new(
                    Info,
                    "systemd-logind",
                    m.t(&format!("New session {} of user ", d.n(2, 900)))
                        .s(user)
                        .t("."),
                )
                .program("systemd-logind", 4, pid),
                _ => {
                    let ip = d.look(L::PrivateIp);
                    Record::new(Info, "chronyd", m.t("Selected source ").s(ip))
                        .program("chronyd", 3, pid)
                }
            }
        }
        _ => match below(d.rng, 4) {
            0 => Record::new(Info, "CRON", m.t("(root) CMD (/usr/local/bin/backup.sh)"))
                .program("CRON", 9, pid),
            1 => Record::new(
                Info,
                "systemd",
                m.t("Started Daily apt upgrade and clean activities."),
            )
            .program("systemd", 3, pid),
            2 => Record::new(
                Info,
                "systemd",
                m.t("logrotate.service: Deactivated successfully."),
            )
            .program("systemd", 3, pid),
            _ => Record::new(
                Info,
                "qmgr",
                m.t(&format!(
                    "{}: removed",
                    super::draw::chars(d.rng, 10, b"0123456789ABCDEF")
                )),
            )
            .program("postfix/qmgr", 2, pid),
        },
    }
}

/// A machine's mailbox, as a relay or cron sends from.
fn mailbox(d: &mut Draw) -> String {
    let user = pick(d.rng, &["root", "cron", "nagios", "postmaster", "www-data"]);
    let host = pick(d.rng, &["localhost", "web-3.internal", "mail.internal"]);
    format!("{user}@{host}")
}
