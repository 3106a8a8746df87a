//! kcat-like output templates for `corelog consume -f`: `%t` topic, `%p`
//! partition, `%o` offset, `%k` key, `%s` value, `%S` value size in bytes,
//! `%T` timestamp (milliseconds), `%h` headers (`k=v,k=v`), `%%` a percent
//! sign; `\n`, `\t`, `\\` escapes. A null key or value prints as nothing
//! (and `%S` as -1), as kcat does.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    ValueSize,
    Timestamp,
    Headers,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// One consumed record, as a template sees it.
pub struct Message<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
}

impl Template {
    /// Parses `text`; an unknown `%x` or `\x` is an error.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let field = match c {
                '%' => match chars.next() {
                    Some('t') => Piece::Topic,
                    Some('p') => Piece::Partition,
                    Some('o') => Piece::Offset,
                    Some('k') => Piece::Key,
                    Some('s') => Piece::Value,
                    Some('S') => Piece::ValueSize,
                    Some('T') => Piece::Timestamp,
                    Some('h') => Piece::Headers,
                    Some('%') => {
                        literal.push('%');
                        continue;
                    }
                    other => return Err(format!("unknown format field %{}", other.unwrap_or(' '))),
                },
                '\\' => {
                    literal.push(match chars.next() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('\\') => '\\',
                        other => return Err(format!("unknown escape \\{}", other.unwrap_or(' '))),
                    });
                    continue;
                }
                c => {
                    literal.push(c);
                    continue;
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(field);
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// Appends `message` as the template says to `out`.
    pub fn render(&self, message: &Message, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text.as_bytes()),
                Piece::Topic => out.extend_from_slice(message.topic.as_bytes()),
                Piece::Partition => out.extend_from_slice(message.partition.to_string().as_bytes()),
                Piece::Offset => out.extend_from_slice(message.offset.to_string().as_bytes()),
                Piece::Timestamp => out.extend_from_slice(message.timestamp.to_string().as_bytes()),
                Piece::Key => out.extend_from_slice(message.key.unwrap_or_default()),
                Piece::Value => out.extend_from_slice(message.value.unwrap_or_default()),
                Piece::ValueSize => {
                    let size = message.value.map_or(-1, |value| value.len() as i64);
                    out.extend_from_slice(size.to_string().as_bytes());
                }
                Piece::Headers => {
                    for (index, (key, value)) in message.headers.iter().enumerate() {
                        if index > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(key.as_bytes());
                        out.push(b'=');
                        out.extend_from_slice(value.unwrap_or_default());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_field_and_escape() {
        let template = Template::parse("%t/%p@%o %k=%s (%S) %T [%h] 100%%\\n").unwrap();
        let message = Message {
            topic: "t",
            partition: 2,
            offset: 7,
            timestamp: 1000,
            key: Some(b"k"),
            value: Some(b"hello"),
            headers: vec![("a", Some(b"1")), ("b", None)],
        };
        let mut out = Vec::new();
        template.render(&message, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "t/2@7 k=hello (5) 1000 [a=1,b=] 100%\n"
        );
        assert!(Template::parse("%x").is_err());
    }
}
