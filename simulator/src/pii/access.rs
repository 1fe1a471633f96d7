//! nginx/Apache combined access lines with the X-Forwarded-For header appended:
//!
//! `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//!  "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`
//!
//! `$remote_addr` is the load balancer (a private address: a lookalike). A client's own
//! address reaches the log only through X-Forwarded-For, and is PII when it does (GDPR
//! counts IP addresses as personal data). Leaks ride in query strings (RFC 6750's
//! `access_token=` is a bearer token), in `$remote_user`, and in presigned S3 URLs.

use super::PiiLine;
use super::content::{Carry, Draw, Msg, Seg};
use super::draw::{HEX, MONTHS, below, between, chars, civil, pick};
use super::entities::{self as ent, Entity};
use super::formats::{Esc, LineBuf, LogFormat};
use super::lookalikes::Lookalike;

/// Entities a request line can carry; others fall back to an email.
pub(super) fn carries(e: Entity) -> bool {
    !matches!(e, Entity::AwsSecretKey | Entity::PersonName)
}

struct Request {
    user: Option<Seg>,
    method: &'static str,
    path: Msg,
    status: u32,
    xff: Option<Seg>,
    ua: Msg,
}

pub(super) fn line(d: &mut Draw, carry: Carry, balancer: &Seg) -> PiiLine {
    let mut req = Request {
        user: None,
        method: "GET",
        path: Msg::default(),
        status: *pick(
            d.rng,
            &[200, 200, 200, 200, 201, 204, 304, 301, 400, 401, 404, 500],
        ),
        xff: None,
        ua: user_agent(d),
    };
    match carry {
        Carry::Pii(e) => leak(d, e, &mut req),
        Carry::Look => lookalike_path(d, &mut req),
        Carry::Clean => {
            let (method, path) = *pick(d.rng, CLEAN);
            req.method = method;
            req.path = Msg::text(path);
        }
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
];

/// A request carrying `e` where a real service would leak it.
fn leak(d: &mut Draw, e: Entity, req: &mut Request) {
    let who = d.person();
    let e = if carries(e) { e } else { Entity::Email };
    // URL-safe spellings: no spaces in a request line.
    let v = below(d.rng, 2);
    let p = Msg::default();
    req.path = match e {
        Entity::Email if below(d.rng, 2) == 0 => {
            req.user = Some(Seg::Pii(e, ent::email(d.rng, &who, v)));
            Msg::text("/account/settings")
        }
        Entity::Email => p.t("/api/v1/password-reset?email=").s(d.pii(e, &who)),
        Entity::Ipv4 | Entity::Ipv6 => {
            req.xff = Some(d.pii(e, &who));
            Msg::text("/api/v1/cart")
        }
        Entity::Jwt => p
            .t("/oauth/callback?id_token=")
            .s(d.pii(e, &who))
            .t("&state=")
            .t(&chars(d.rng, 16, HEX)),
        Entity::ApiKey => p.t("/api/v1/export?format=csv&api_key=").s(d.pii(e, &who)),
        Entity::BearerToken => p.t("/api/v1/stream?access_token=").s(d.pii(e, &who)),
        Entity::Phone => {
            let v = below(d.rng, 3);
            p.t("/api/v1/users/lookup?phone=")
                .s(Seg::Pii(e, ent::phone(d.rng, v)))
        }
        Entity::Ssn => p
            .t("/api/v1/kyc/verify?ssn=")
            .s(Seg::Pii(e, ent::ssn(d.rng, v))),
        Entity::CreditCard => p
            .t("/checkout/confirm?card=")
            .s(Seg::Pii(e, ent::credit_card(d.rng, v))),
        _ => {
            let sig = d.look(Lookalike::Hash);
            p.t("/uploads/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=")
                .s(d.pii(Entity::AwsAccessKey, &who))
                .t("/20260101/us-east-1/s3/aws4_request&X-Amz-Signature=")
                .s(sig)
        }
    };
}

fn lookalike_path(d: &mut Draw, req: &mut Request) {
    use Lookalike as L;
    let p = Msg::default();
    req.path = match below(d.rng, 4) {
        0 => p.t("/api/v1/orders/").s(d.look(L::OrderNumber)),
        1 => p.t("/api/v1/requests/").s(d.look(L::Uuid)),
        2 => p.t("/static/js/app.").s(d.look(L::Hash)).t(".js"),
        _ => p.t("/api/v1/events?since=").s(d.look(L::Epoch)),
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
    match &req.xff {
        Some(x) => b.seg(x, Esc::Raw),
        None => b.raw("-"),
    };
    b.raw("\"");
    // Access logs carry neither a level nor a pid.
    b.finish(LogFormat::Access, None, None)
}
