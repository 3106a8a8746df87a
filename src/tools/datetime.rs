//! ISO 8601 date-times to Unix milliseconds, for `--to-datetime` and
//! `consume -o @...`: `YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]` (no zone:
//! UTC), or a bare date (midnight UTC).

/// Milliseconds since the Unix epoch of `text`.
pub fn parse_milliseconds(text: &str) -> Result<i64, String> {
    let wrong = || format!("{text:?} is not an ISO 8601 date-time (e.g. 2026-12-01T19:00:00Z)");
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let [year, month, day] = fields::<3>(date, '-').ok_or_else(wrong)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(wrong());
    }
    let days = days_from_civil(year, month, day);
    let (milliseconds_of_day, offset_minutes) = match time {
        Some(time) => parse_time(time).ok_or_else(wrong)?,
        None => (0, 0),
    };
    Ok(days * 86_400_000 + milliseconds_of_day - offset_minutes * 60_000)
}

/// (milliseconds into the day, zone offset in minutes east of UTC).
fn parse_time(time: &str) -> Option<(i64, i64)> {
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let sign = if time[at..].starts_with('-') { -1 } else { 1 };
        // +HH:MM or +HHMM.
        let zone = time[at + 1..].replace(':', "");
        if zone.len() != 4 || !zone.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hours: i64 = zone[..2].parse().ok()?;
        let minutes: i64 = zone[2..].parse().ok()?;
        (&time[..at], sign * (hours * 60 + minutes))
    } else {
        (time, 0)
    };
    let (whole, fraction) = match clock.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (clock, ""),
    };
    let parts: Vec<&str> = whole.split(':').collect();
    let number = |text: &str| text.parse::<i64>().ok().filter(|_| text.len() == 2);
    let hours = number(parts.first()?)?;
    let minutes = number(parts.get(1)?)?;
    let seconds = parts.get(2).map_or(Some(0), |s| number(s))?;
    if parts.len() > 3 || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let mut milliseconds = 0;
    for (index, digit) in fraction.chars().take(3).enumerate() {
        milliseconds += digit.to_digit(10)? as i64 * [100, 10, 1][index];
    }
    let total = ((hours * 60 + minutes) * 60 + seconds) * 1000 + milliseconds;
    Some((total, offset))
}

/// `N` numbers separated by `separator`.
fn fields<const N: usize>(text: &str, separator: char) -> Option<[i64; N]> {
    let mut out = [0; N];
    let mut parts = text.split(separator);
    for slot in &mut out {
        *slot = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the well-known
/// era-based formula: 400-year eras of 146097 days).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_milliseconds;

    #[test]
    fn parses_the_forms_kafka_tools_accept() {
        assert_eq!(parse_milliseconds("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_milliseconds("1970-01-02"), Ok(86_400_000));
        assert_eq!(
            parse_milliseconds("2026-12-01T19:00:00.250Z"),
            Ok(1_796_151_600_250)
        );
        assert_eq!(
            parse_milliseconds("2026-12-01T20:00:00+01:00"),
            Ok(1_796_151_600_000)
        );
        assert_eq!(
            parse_milliseconds("2026-12-01T18:00:00-0100"),
            Ok(1_796_151_600_000)
        );
        assert_eq!(
            parse_milliseconds("2000-02-29T00:00:00"),
            Ok(951_782_400_000)
        );
        assert!(parse_milliseconds("2001-02-29T00:00:00").is_err());
        assert!(parse_milliseconds("yesterday").is_err());
    }
}
