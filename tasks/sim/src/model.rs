//! How the ToteSys business behaves: its reference data and the orders, transactions, payments
//! and designs it produces, as SPEC.md §1 describes them.
//!
//! Everything is drawn from a seeded ChaCha RNG, so the same seed gives the same rows on every
//! machine. Money is kept in integer pence and only ever formatted, never floated.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Number of addresses, counterparties and staff in the reference data (as in the real database).
pub const ADDRESSES: i32 = 30;
/// Number of counterparties.
pub const COUNTERPARTIES: i32 = 20;
/// Number of staff.
pub const STAFF: i32 = 20;
/// Number of currencies: 1 GBP, 2 USD, 3 EUR.
pub const CURRENCIES: i32 = 3;
/// Number of departments; department 1 is Sales, which has no staff.
pub const DEPARTMENTS: i32 = 8;
/// Payment types: 1 SALES_RECEIPT, 2 SALES_REFUND, 3 PURCHASE_PAYMENT, 4 PURCHASE_REFUND.
pub const PAYMENT_TYPES: [&str; 4] = [
    "SALES_RECEIPT",
    "SALES_REFUND",
    "PURCHASE_PAYMENT",
    "PURCHASE_REFUND",
];
/// Currency codes by id.
pub const CURRENCY_CODES: [&str; 3] = ["GBP", "USD", "EUR"];
/// Departments by id: (name, location, manager). 'Leds' is misspelt in the real data, on purpose.
pub const DEPARTMENT_ROWS: [(&str, &str, &str); 8] = [
    ("Sales", "Manchester", "Richard Roma"),
    ("Purchasing", "Manchester", "Naomi Lapaglia"),
    ("Production", "Leeds", "Chester Ming"),
    ("Dispatch", "Leds", "Mark Hanna"),
    ("Finance", "Manchester", "Jordan Belfort"),
    ("Facilities", "Manchester", "Shelley Levene"),
    ("Communications", "Leeds", "Ann Blake"),
    ("HR", "Leeds", "James Link"),
];

const FIRST_NAMES: [&str; 20] = [
    "Jeremie",
    "Deron",
    "Jeanette",
    "Ana",
    "Magdalena",
    "Korey",
    "Raphael",
    "Oswaldo",
    "Brody",
    "Jazmyn",
    "Meda",
    "Imani",
    "Stan",
    "Rick",
    "Sabrina",
    "Marcos",
    "Lyric",
    "Tyler",
    "Zuzana",
    "Éamon",
];
const LAST_NAMES: [&str; 20] = [
    "Franey",
    "Beier",
    "Erdman",
    "Glover",
    "Zieme",
    "Gutkowski",
    "Rippin",
    "Bergstrom",
    "Ratke",
    "Kuhn",
    "Cremin",
    "Walsh",
    "Lehner",
    "Nolan",
    "Oberbrunner",
    "O'Keefe",
    "Schuppe",
    "Windler",
    "Dvořák",
    "Mac Giolla",
];
const STREETS: [&str; 15] = [
    "Alexie Cliffs",
    "Zieme Mills",
    "Kohler Squares",
    "Maggio Fork",
    "Bode Crescent",
    "Ernser Falls",
    "Reinger Springs",
    "Luettgen Ways",
    "Schoen Field",
    "Moen Alley",
    "Hartmann Green",
    "Keeling Inlet",
    "Pfeffer Manors",
    "Cassin Lodge",
    "Wehner Gateway",
];
const CITIES: [&str; 15] = [
    "New Patienceburgh",
    "Aliso Viejo",
    "Lake Charles",
    "Suffolk",
    "East Bobbie",
    "Pricetown",
    "Olsonside",
    "Fort Shadburgh",
    "Kendraburgh",
    "Utica",
    "Sayreville",
    "Lake Arne",
    "Hackensack",
    "Bartlett",
    "Oakland Park",
];
const COUNTRIES: [&str; 12] = [
    "Turkey",
    "San Marino",
    "Democratic People's Republic of Korea",
    "Iceland",
    "Austria",
    "Côte d'Ivoire",
    "Romania",
    "Guernsey",
    "Antigua and Barbuda",
    "United Kingdom",
    "Bosnia and Herzegovina",
    "Saint Kitts and Nevis",
];
const DISTRICTS: [&str; 6] = [
    "Avon",
    "Cambridgeshire",
    "Bedfordshire",
    "Buckinghamshire",
    "Cheshire",
    "Somerset",
];
const COMPANIES: [&str; 20] = [
    "Fahey and Sons",
    "Leannon, Bogan and Ruecker",
    "Armstrong Inc",
    "Kohler Inc",
    "Frami, Yundt and Macejkovic",
    "Mraz LLC",
    "Padberg, Lueilwitz and Koch",
    "Grant - Lakin",
    "Price LLC",
    "Bosco - Grant",
    "Murphy, Hermiston and Lemke",
    "Hahn - O'Kon",
    "Weber, Kunde and Kiehn",
    "Jacobson Inc",
    "Moen, Stark and Wunsch",
    "Cummerata, Kihn and Ruecker",
    "Strosin, Beatty and Shanahan",
    "Yost, Watsica and Mann",
    "Kub, Walker and Johns",
    "Wiza - Paucek",
];
const MATERIALS: [&str; 16] = [
    "Wooden",
    "Bronze",
    "Granite",
    "Soft",
    "Steel",
    "Rubber",
    "Plastic",
    "Cotton",
    "Fresh",
    "Frozen",
    "Metal",
    "Concrete",
    "Bespoke",
    "Fantastic",
    "Practical",
    "Incredible",
];
const FILE_LOCATIONS: [&str; 6] = [
    "/usr/share",
    "/usr/local/src",
    "/private",
    "/System",
    "/usr/ports",
    "/opt/include",
];

/// The moment the seed's reference data was created: the day before the history starts.
pub fn reference_time(history_start: NaiveDate) -> NaiveDateTime {
    (history_start - Duration::days(1)).and_time(NaiveTime::from_hms_milli_opt(14, 20, 51, 563).unwrap())
}

/// An address row (without timestamps).
#[derive(Debug, Clone)]
pub struct Address {
    /// address_line_1
    pub line_1: String,
    /// address_line_2 (NULL in about two thirds)
    pub line_2: Option<String>,
    /// district (NULL in about half)
    pub district: Option<String>,
    /// city
    pub city: String,
    /// postal_code
    pub postal_code: String,
    /// country
    pub country: String,
    /// phone
    pub phone: String,
}

/// Draws a random address.
pub fn address(rng: &mut ChaCha8Rng) -> Address {
    Address {
        line_1: format!("{} {}", rng.random_range(1..=9999), pick(rng, &STREETS)),
        line_2: rng
            .random_bool(1.0 / 3.0)
            .then(|| pick(rng, &STREETS).to_string()),
        district: rng.random_bool(0.5).then(|| pick(rng, &DISTRICTS).to_string()),
        city: pick(rng, &CITIES).to_string(),
        postal_code: format!("{:05}", rng.random_range(10000..=99999)),
        country: pick(rng, &COUNTRIES).to_string(),
        phone: format!(
            "{:04} {:06}",
            rng.random_range(1000..=9999),
            rng.random_range(0..=999_999)
        ),
    }
}

/// A counterparty row (without timestamps).
#[derive(Debug, Clone)]
pub struct Counterparty {
    /// counterparty_legal_name
    pub legal_name: String,
    /// legal_address_id (addresses are shared between counterparties)
    pub legal_address_id: i32,
    /// commercial_contact
    pub commercial_contact: Option<String>,
    /// delivery_contact
    pub delivery_contact: Option<String>,
}

/// The counterparty with id `id` (1-based).
pub fn counterparty(rng: &mut ChaCha8Rng, id: i32) -> Counterparty {
    Counterparty {
        legal_name: COMPANIES[(id as usize - 1) % COMPANIES.len()].to_string(),
        legal_address_id: rng.random_range(1..=ADDRESSES),
        commercial_contact: rng.random_bool(0.9).then(|| person(rng)),
        delivery_contact: rng.random_bool(0.9).then(|| person(rng)),
    }
}

/// A staff row (without timestamps).
#[derive(Debug, Clone)]
pub struct Staff {
    /// first_name
    pub first_name: String,
    /// last_name
    pub last_name: String,
    /// department_id: never 1 (Sales has no staff in the real data)
    pub department_id: i32,
    /// email_address
    pub email: String,
}

/// The staff member with id `id` (1-based).
pub fn staff(rng: &mut ChaCha8Rng, id: i32) -> Staff {
    let first = FIRST_NAMES[(id as usize - 1) % FIRST_NAMES.len()];
    let last = pick(rng, &LAST_NAMES);
    Staff {
        first_name: first.to_string(),
        last_name: last.to_string(),
        department_id: rng.random_range(2..=DEPARTMENTS),
        email: email(first, last),
    }
}

/// The company e-mail address of a person.
pub fn email(first: &str, last: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    format!("{}.{}@terrifictotes.com", clean(first), clean(last))
}

/// A random last name, for renames.
pub fn last_name(rng: &mut ChaCha8Rng) -> &'static str {
    pick(rng, &LAST_NAMES)
}

/// A design row (without id).
#[derive(Debug, Clone)]
pub struct Design {
    /// created_at = last_updated
    pub created_at: NaiveDateTime,
    /// design_name
    pub name: String,
    /// file_location
    pub file_location: String,
    /// file_name
    pub file_name: String,
}

/// Draws a design created at `at`.
pub fn design(rng: &mut ChaCha8Rng, at: NaiveDateTime) -> Design {
    let name = pick(rng, &MATERIALS);
    let suffix: String = (0..4).map(|_| (b'a' + rng.random_range(0..26)) as char).collect();
    Design {
        created_at: at,
        name: name.to_string(),
        file_location: pick(rng, &FILE_LOCATIONS).to_string(),
        file_name: format!("{}-{}-{suffix}.json", name.to_lowercase(), at.format("%Y%m%d")),
    }
}

/// A new order of either kind, with the transaction and payment it brings.
#[derive(Debug, Clone)]
pub struct Order {
    /// created_at of the order, its transaction and its payment
    pub created_at: NaiveDateTime,
    /// sale or purchase, with the fields only that kind has
    pub kind: OrderKind,
    /// staff_id
    pub staff_id: i32,
    /// counterparty_id
    pub counterparty_id: i32,
    /// quantity: units_sold or item_quantity
    pub quantity: i32,
    /// unit price in pence (2 dp)
    pub unit_price_pence: i64,
    /// currency_id
    pub currency_id: i32,
    /// agreed_delivery_date
    pub delivery_date: NaiveDate,
    /// agreed_payment_date (= payment_date)
    pub payment_date: NaiveDate,
    /// agreed_delivery_location_id
    pub location_id: i32,
    /// company_ac_number of the payment
    pub company_ac: i32,
    /// counterparty_ac_number of the payment
    pub counterparty_ac: i32,
}

/// What distinguishes a sales order from a purchase order.
#[derive(Debug, Clone)]
pub enum OrderKind {
    /// A sales order of one design.
    Sale {
        /// design_id
        design_id: i32,
    },
    /// A purchase order of an item.
    Purchase {
        /// item_code
        item_code: String,
    },
}

impl Order {
    /// payment_amount = quantity × unit price, exactly, in pence.
    pub fn amount_pence(&self) -> i64 {
        self.quantity as i64 * self.unit_price_pence
    }

    /// 'SALE' or 'PURCHASE'.
    pub fn transaction_type(&self) -> &'static str {
        match self.kind {
            OrderKind::Sale { .. } => "SALE",
            OrderKind::Purchase { .. } => "PURCHASE",
        }
    }

    /// payment_type_id: 1 (SALES_RECEIPT) for a sale, 3 (PURCHASE_PAYMENT) for a purchase.
    pub fn payment_type_id(&self) -> i32 {
        match self.kind {
            OrderKind::Sale { .. } => 1,
            OrderKind::Purchase { .. } => 3,
        }
    }

    /// When the payment's `paid` flips to true (07:55 on the payment date), or `None` when that
    /// moment is not after the order's creation (a same-day payment date): such a payment stays
    /// unpaid, as a flip can never precede the row it changes.
    pub fn paid_at(&self) -> Option<NaiveDateTime> {
        paid_at(self.payment_date, self.created_at)
    }
}

/// 07:55 on `payment_date`, if that is after `created_at`.
pub fn paid_at(payment_date: NaiveDate, created_at: NaiveDateTime) -> Option<NaiveDateTime> {
    let at = payment_date.and_time(NaiveTime::from_hms_opt(7, 55, 0).unwrap());
    (at > created_at).then_some(at)
}

/// Draws a sales order created at `at`, of one of the designs `1..=max_design_id`.
pub fn sales_order(rng: &mut ChaCha8Rng, at: NaiveDateTime, max_design_id: i32) -> Order {
    let kind = OrderKind::Sale {
        design_id: rng.random_range(1..=max_design_id),
    };
    order(rng, at, kind, 1_000..=100_000, 200..=400)
}

/// Draws a purchase order created at `at`.
pub fn purchase_order(rng: &mut ChaCha8Rng, at: NaiveDateTime) -> Order {
    let item_code: String = (0..7)
        .map(|_| {
            let c = rng.random_range(0..36u8);
            if c < 26 {
                (b'A' + c) as char
            } else {
                (b'0' + c - 26) as char
            }
        })
        .collect();
    order(
        rng,
        at,
        OrderKind::Purchase { item_code },
        1..=1_000,
        300..=100_000,
    )
}

fn order(
    rng: &mut ChaCha8Rng,
    at: NaiveDateTime,
    kind: OrderKind,
    quantity: std::ops::RangeInclusive<i32>,
    price_pence: std::ops::RangeInclusive<i64>,
) -> Order {
    let (delivery_date, payment_date) = agreed_dates(rng, at.date());
    Order {
        created_at: at,
        kind,
        staff_id: rng.random_range(1..=STAFF),
        counterparty_id: rng.random_range(1..=COUNTERPARTIES),
        quantity: rng.random_range(quantity),
        unit_price_pence: rng.random_range(price_pence),
        currency_id: rng.random_range(1..=CURRENCIES),
        delivery_date,
        payment_date,
        location_id: rng.random_range(1..=ADDRESSES),
        company_ac: rng.random_range(10_000_000..=99_999_999),
        counterparty_ac: rng.random_range(10_000_000..=99_999_999),
    }
}

/// Agreed delivery and payment dates: each 0–7 days after `created`.
pub fn agreed_dates(rng: &mut ChaCha8Rng, created: NaiveDate) -> (NaiveDate, NaiveDate) {
    (
        created + Duration::days(rng.random_range(0..=7)),
        created + Duration::days(rng.random_range(0..=7)),
    )
}

/// A random unit price for an existing order of the given kind, in pence.
pub fn unit_price_pence(rng: &mut ChaCha8Rng, sale: bool) -> i64 {
    if sale {
        rng.random_range(200..=400)
    } else {
        rng.random_range(300..=100_000)
    }
}

/// A random quantity for an existing order of the given kind.
pub fn quantity(rng: &mut ChaCha8Rng, sale: bool) -> i32 {
    if sale {
        rng.random_range(1_000..=100_000)
    } else {
        rng.random_range(1..=1_000)
    }
}

/// Formats pence as an exact decimal with 2 places: 1234 → "12.34".
pub fn money(pence: i64) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    let p = pence.unsigned_abs();
    format!("{sign}{}.{:02}", p / 100, p % 100)
}

/// A random person's name, for contacts.
fn person(rng: &mut ChaCha8Rng) -> String {
    format!("{} {}", pick(rng, &FIRST_NAMES), pick(rng, &LAST_NAMES))
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Business hours: weekdays, 08:00:00.000 up to 18:59:59.999.
pub fn is_business_time(t: NaiveDateTime) -> bool {
    !matches!(t.weekday(), Weekday::Sat | Weekday::Sun) && (8..19).contains(&chrono::Timelike::hour(&t))
}

/// Draws a count with mean `mean`: its integer part, plus one with the probability of its fraction.
pub fn count(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    let whole = mean.floor();
    whole as usize + usize::from(rng.random_bool((mean - whole).clamp(0.0, 1.0)))
}

/// A random moment in `[from, to)` with millisecond precision.
pub fn moment(rng: &mut ChaCha8Rng, from: NaiveDateTime, to: NaiveDateTime) -> NaiveDateTime {
    let span = (to - from).num_milliseconds().max(1);
    from + Duration::milliseconds(rng.random_range(0..span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact() {
        assert_eq!(money(1234), "12.34");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-105), "-1.05");
        assert_eq!(money(100_000 * 400), "400000.00");
    }

    #[test]
    fn email_strips_punctuation() {
        assert_eq!(email("Éamon", "O'Keefe"), "éamon.okeefe@terrifictotes.com");
    }
}
