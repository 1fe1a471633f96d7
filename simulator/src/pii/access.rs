//! nginx/Apache combined access lines with the X-Forwarded-For header appended:
//!
//! `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//!  "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`
//!
//! `$remote_addr` is the load balancer (a private address: a lookalike). X-Forwarded-For
//! is filled on a share of requests drawn per writer (30 to 90 %) in every kind, so its
//! presence says nothing: most of the time it names internal hops only (one private
//! address, or a chain of two), lookalikes. A client's public address reaches it only
//! in a leak (`client` or `client, proxy`), and is PII there (GDPR counts IP addresses
//! as personal data); negatives never carry one. Other leaks ride in query strings and
//! paths (RFC 6750's `access_token=` is a bearer token), in `$remote_user`, and in
//! presigned S3 URLs; their twins carry masked values, and `$remote_user` holds a system
//! account on a few basic-auth requests of every kind.

use super::PiiLine;
use super::content::{Carry, Draw, Msg, Seg};
use super::draw::{ALNUM, HEX, MONTHS, below, between, chance, chars, civil, pick};
use super::entities::Entity;
use super::formats::{Esc, LineBuf, LogFormat};
use super::lookalikes::Lookalike;

/// Entities a request line can carry; others fall back to an email.
pub(super) fn carries(e: Entity) -> bool {
    !matches!(e, Entity::AwsSecretKey | Entity::PersonName)
}

/// How one access log's requests arrive, drawn per writer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    /// Share of requests whose X-Forwarded-For is filled.
    pub xff_share: f64,
    /// Share of requests (carrying no PII) sent with basic auth by a system account.
    pub auth_share: f64,
}

struct Request {
    user: Option<Seg>,
    method: &'static str,
    path: Msg,
    status: u32,
    xff: Vec<Seg>,
    ua: Msg,
}

pub(super) fn line(d: &mut Draw, carry: Carry, balancer: &Seg, style: &Style) -> PiiLine {
    let mut req = Request {
        user: None,
        method: "GET",
        path: Msg::default(),
        status: *pick(
            d.rng,
            &[200, 200, 200, 200, 201, 204, 304, 301, 400, 401, 404, 500],
        ),
        xff: Vec::new(),
        ua: user_agent(d),
    };
    let leaks = matches!(carry, Carry::Pii(_));
    match carry {
        Carry::Pii(e) => leak(d, e, &mut req),
        Carry::Twin(e) => {
            d.twin = true;
            leak(d, e, &mut req);
        }
        Carry::Look => lookalike_path(d, &mut req),
        Carry::Clean => clean_path(d, &mut req),
    }
    if req.xff.is_empty() && chance(d.rng, style.xff_share) {
        // Internal hops only: a sidecar, an ingress, a service calling another.
        req.xff.push(d.look(Lookalike::PrivateIp));
        if below(d.rng, 3) == 0 {
            req.xff.push(d.look(Lookalike::PrivateIp));
        }
    }
    if req.user.is_none() && !leaks && chance(d.rng, style.auth_share) {
        req.user = Some(d.look(Lookalike::SystemAccount));
    }
    render(d.ts_ns, d, balancer, &req)
}

const CLEAN: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/api/v1/cart"),
    ("GET", "/api/v1/products?page=2"),
    ("GET", "/healthz"),
    ("GET", "/static/css/main.css"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/search?q=winter+boots"),
    ("POST", "/login"),
    ("GET", "/favicon.ico"),
    ("GET", "/api/v1/recommendations?limit=12"),
    ("POST", "/api/v1/cart/items"),
    ("DELETE", "/api/v1/cart/items/42"),
    ("GET", "/robots.txt"),
    ("PUT", "/api/v1/profile"),
    ("GET", "/images/products/1042.webp"),
    ("GET", "/metrics"),
];

fn clean_path(d: &mut Draw, req: &mut Request) {
    let (method, path) = *pick(d.rng, CLEAN);
    req.method = method;
    req.path = Msg::text(path);
}

/// A request carrying `e` where a real service would leak it (URL-safe spellings: no
/// spaces in a request line). In a twin, stand-ins: masked values, a system account
/// for a basic-auth user, internal hops in X-Forwarded-For.
fn leak(d: &mut Draw, e: Entity, req: &mut Request) {
    let who = d.person();
    let e = if carries(e) { e } else { Entity::Email };
    let v = below(d.rng, 2);
    let p = Msg::default();
    // Phones have three URL-safe spellings.
    let pv = below(d.rng, 3);
    req.path = match (e, below(d.rng, 3)) {
        (Entity::Email, 0) => {
            req.user = Some(if d.twin {
                d.look(Lookalike::SystemAccount)
            } else {
                d.pii_as(e, &who, v)
            });
            clean_path(d, req);
            return;
        }
        (Entity::Email, 1) => {
            req.method = "POST";
            p.t("/api/v1/password-reset?email=").s(d.pii_as(e, &who, v))
        }
        (Entity::Email, _) => p
            .t("/api/v1/newsletter/subscribe?list=weekly&email=")
            .s(d.pii_as(e, &who, v)),
        (Entity::Ipv4 | Entity::Ipv6, _) => {
            clean_path(d, req);
            // A twin's client is inside the network: the ordinary hops below.
            if !d.twin {
                req.xff.push(d.pii_as(e, &who, v));
                if below(d.rng, 2) == 0 {
                    req.xff.push(d.look(Lookalike::PrivateIp));
                }
            }
            return;
        }
        (Entity::Jwt, 0) => p
            .t("/oauth/callback?id_token=")
            .s(d.pii_as(e, &who, v))
            .t("&state=")
            .t(&chars(d.rng, 16, HEX)),
        (Entity::Jwt, _) => p.t("/api/v1/session/refresh?jwt=").s(d.pii_as(e, &who, v)),
        (Entity::ApiKey, 0) => p
            .t("/api/v1/export?format=csv&api_key=")
            .s(d.pii_as(e, &who, v)),
        (Entity::ApiKey, _) => p
            .t("/maps/api/geocode/json?address=Berlin&key=")
            .s(d.pii_as(e, &who, 3)),
        (Entity::BearerToken, 0) => p.t("/api/v1/stream?access_token=").s(d.pii_as(e, &who, v)),
        (Entity::BearerToken, 1) => p
            .t("/ws/notifications?access_token=")
            .s(d.pii_as(e, &who, v)),
        (Entity::BearerToken, _) => p
            .t("/api/v1/me?fields=id,name&access_token=")
            .s(d.pii_as(e, &who, v)),
        (Entity::Phone, 0) => p.t("/api/v1/users/lookup?phone=").s(d.pii_as(e, &who, pv)),
        (Entity::Phone, _) => p.t("/api/v1/sms/verify?to=").s(d.pii_as(e, &who, pv)),
        (Entity::Ssn, 0) => p.t("/api/v1/kyc/verify?ssn=").s(d.pii_as(e, &who, v)),
        (Entity::Ssn, _) => p.t("/api/v1/tax/forms/w9?tin=").s(d.pii_as(e, &who, v)),
        (Entity::CreditCard, 0) => p.t("/checkout/confirm?card=").s(d.pii_as(e, &who, v)),
        (Entity::CreditCard, 1) => {
            req.method = "POST";
            p.t("/api/v1/payments/authorize?currency=EUR&pan=")
                .s(d.pii_as(e, &who, v))
        }
        (Entity::CreditCard, _) => p.t("/api/v1/cards/").s(d.pii_as(e, &who, 0)).t("/verify"),
        (_, 0) => {
            let key = d.pii_as(Entity::AwsAccessKey, &who, v);
            let expires = d.look(Lookalike::Epoch);
            p.t("/exports/orders.csv?AWSAccessKeyId=")
                .s(key)
                .t("&Expires=")
                .s(expires)
                .t("&Signature=")
                .t(&chars(d.rng, 27, ALNUM))
                .t("%3D")
        }
        _ => {
            let key = d.pii_as(Entity::AwsAccessKey, &who, v);
            let sig = d.look(Lookalike::Hash);
            p.t("/uploads/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=")
                .s(key)
                .t("/20260101/us-east-1/s3/aws4_request&X-Amz-Signature=")
                .s(sig)
        }
    };
}

fn lookalike_path(d: &mut Draw, req: &mut Request) {
    use Lookalike as L;
    let p = Msg::default();
    req.path = match below(d.rng, 8) {
        0 => p.t("/api/v1/orders/").s(d.look(L::OrderNumber)),
        1 => p.t("/api/v1/requests/").s(d.look(L::Uuid)),
        2 => p.t("/static/js/app.").s(d.look(L::Hash)).t(".js"),
        3 => p.t("/api/v1/events?since=").s(d.look(L::Epoch)),
        4 => p
            .t("/api/v1/invoices/")
            .s(d.look(L::InvoiceNumber))
            .t(".pdf"),
        5 => p.t("/downloads/agent-").s(d.look(L::Version)).t(".tar.gz"),
        6 => p.t("/api/v1/jobs/").s(d.look(L::RequestId)),
        _ => p.t("/api/v1/shipments?order=").s(d.look(L::OrderNumber)),
    };
}

const CHROME: &str = concat!(
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 ",
    "(KHTML, like Gecko) Chrome/"
);
const IPHONE: &str = concat!(
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 ",
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
);

/// Browsers, the shop's app, probes. Chrome's reduced UA version (120.0.0.0) is a valid
/// IPv4 address, so it is marked as a lookalike.
fn user_agent(d: &mut Draw) -> Msg {
    match below(d.rng, 5) {
        0 => {
            let version = format!("{}.0.0.0", between(d.rng, 110, 131));
            Msg::text(CHROME)
                .s(Seg::Look(Lookalike::Version, version))
                .t(" Safari/537.36")
        }
        1 => Msg::text(IPHONE),
        2 => Msg::text("ShopApp/")
            .s(d.look(Lookalike::Version))
            .t(" (Android 14; Pixel 8)"),
        3 => Msg::text("curl/8.5.0"),
        _ => Msg::text("kube-probe/1.29"),
    }
}

fn render(ts_ns: i64, d: &mut Draw, balancer: &Seg, req: &Request) -> PiiLine {
    let (y, mo, day, h, mi, s, _) = civil(ts_ns);
    let mut b = LineBuf::default();
    b.seg(balancer, Esc::Raw).raw(" - ");
    match &req.user {
        Some(u) => b.seg(u, Esc::Raw),
        None => b.raw("-"),
    };
    b.raw(&format!(
        " [{day:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000] \"{} ",
        MONTHS[(mo - 1) as usize],
        req.method
    ));
    b.msg(&req.path, Esc::Raw);
    let size = if req.status == 204 || req.status == 304 {
        0
    } else {
        between(d.rng, 120, 48_000)
    };
    b.raw(&format!(" HTTP/1.1\" {} {size} \"", req.status));
    if below(d.rng, 2) == 0 {
        b.raw("https://shop.example.com/");
    } else {
        b.raw("-");
    }
    b.raw("\" \"").msg(&req.ua, Esc::Raw).raw("\" \"");
    if req.xff.is_empty() {
        b.raw("-");
    }
    for (i, hop) in req.xff.iter().enumerate() {
        if i > 0 {
            b.raw(", ");
        }
        b.seg(hop, Esc::Raw);
    }
    b.raw("\"");
    // Access logs carry neither a level nor a pid.
    b.finish(LogFormat::Access, None, None)
}
