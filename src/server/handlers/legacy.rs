//! Request and response versions that Kafka 3.9 accepts but the codec crate
//! no longer knows (Kafka 4.0 removed them, KIP-896): read and written here
//! field by field from Kafka 3.9's message schemas. All of them are
//! non-flexible versions, so the wire types are the classic ones: big-endian
//! integers, strings with an i16 length (-1 for null), arrays with an i32
//! count.
//!
//! Invariants: every length read is checked against the bytes that remain
//! before anything is allocated for it, so a hostile count costs nothing;
//! an array of n elements claims at least n times its smallest element.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::{ByteBuf, ByteBufMut};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

pub type CodecResult<T> = anyhow::Result<T>;

/// A message whose versions below `OLDEST` (the codec's oldest) have the
/// same layout on the wire as `OLDEST`: they are read and written as it.
#[derive(Debug, Default, Clone)]
pub struct SameAs<T, const OLDEST: i16>(pub T);

impl<T: Decodable, const OLDEST: i16> Decodable for SameAs<T, OLDEST> {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> CodecResult<Self> {
        Ok(SameAs(T::decode(buf, version.max(OLDEST))?))
    }
}

impl<T: Encodable, const OLDEST: i16> Encodable for SameAs<T, OLDEST> {
    fn encode<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> CodecResult<()> {
        self.0.encode(buf, version.max(OLDEST))
    }

    fn compute_size(&self, version: i16) -> CodecResult<usize> {
        self.0.compute_size(version.max(OLDEST))
    }
}

fn short(what: &str) -> anyhow::Error {
    anyhow::anyhow!("not enough bytes for {what}")
}

/// Reads the classic (non-flexible) wire types off a request body.
pub struct Reader<'a, B: ByteBuf> {
    buf: &'a mut B,
}

impl<'a, B: ByteBuf> Reader<'a, B> {
    pub fn new(buf: &'a mut B) -> Self {
        Reader { buf }
    }

    pub fn i8(&mut self) -> CodecResult<i8> {
        if self.buf.remaining() < 1 {
            return Err(short("an int8"));
        }
        Ok(self.buf.get_i8())
    }

    pub fn boolean(&mut self) -> CodecResult<bool> {
        Ok(self.i8()? != 0)
    }

    pub fn i16(&mut self) -> CodecResult<i16> {
        if self.buf.remaining() < 2 {
            return Err(short("an int16"));
        }
        Ok(self.buf.get_i16())
    }

    pub fn i32(&mut self) -> CodecResult<i32> {
        if self.buf.remaining() < 4 {
            return Err(short("an int32"));
        }
        Ok(self.buf.get_i32())
    }

    pub fn i64(&mut self) -> CodecResult<i64> {
        if self.buf.remaining() < 8 {
            return Err(short("an int64"));
        }
        Ok(self.buf.get_i64())
    }

    pub fn nullable_string(&mut self) -> CodecResult<Option<StrBytes>> {
        let length = self.i16()?;
        if length < 0 {
            return Ok(None);
        }
        let bytes = self
            .buf
            .try_get_bytes(length as usize)
            .map_err(|_| short("a string"))?;
        Ok(Some(StrBytes::try_from(bytes)?))
    }

    pub fn string(&mut self) -> CodecResult<StrBytes> {
        self.nullable_string()?
            .ok_or_else(|| anyhow::anyhow!("null where a string is required"))
    }

    /// An array's element count; `None` for a null array. `element_bytes_min`
    /// is the smallest encoding of one element, so the count can be checked
    /// against what remains before the caller allocates for it.
    pub fn nullable_array_length(
        &mut self,
        element_bytes_min: usize,
    ) -> CodecResult<Option<usize>> {
        let count = self.i32()?;
        if count < 0 {
            return Ok(None);
        }
        let count = count as usize;
        if count.saturating_mul(element_bytes_min.max(1)) > self.buf.remaining() {
            return Err(anyhow::anyhow!(
                "an array claims {count} elements in {} bytes",
                self.buf.remaining()
            ));
        }
        Ok(Some(count))
    }

    pub fn array_length(&mut self, element_bytes_min: usize) -> CodecResult<usize> {
        Ok(self.nullable_array_length(element_bytes_min)?.unwrap_or(0))
    }
}

pub fn put_string(out: &mut impl BufMut, value: &str) {
    out.put_i16(value.len() as i16);
    out.put_slice(value.as_bytes());
}

pub fn put_nullable_string(out: &mut impl BufMut, value: Option<&str>) {
    match value {
        Some(value) => put_string(out, value),
        None => out.put_i16(-1),
    }
}

pub fn put_array_length(out: &mut impl BufMut, length: usize) {
    out.put_i32(length as i32);
}

/// Encodes with `write` into a fresh buffer (hand-written encoders use it
/// for both `encode` and `compute_size`; old versions are small and rare).
pub fn encoded(write: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut out = BytesMut::new();
    write(&mut out);
    out.freeze()
}

/// Implements `Encodable` for a handler's response whose versions from
/// `$codec_version_min` on are the codec's (the field `$codec`) and whose
/// older versions its method `$old(&self, out, version)` writes by hand.
/// One body for every such response, so the choice of writer by version is
/// made the same way everywhere.
macro_rules! encodable_by_version {
    ($response:ty, $codec_version_min:expr, $codec:tt, $old:ident) => {
        impl kafka_protocol::protocol::Encodable for $response {
            fn encode<B: kafka_protocol::protocol::buf::ByteBufMut>(
                &self,
                buf: &mut B,
                version: i16,
            ) -> $crate::server::handlers::legacy::CodecResult<()> {
                if version >= $codec_version_min {
                    return self.$codec.encode(buf, version);
                }
                self.$old(buf, version);
                Ok(())
            }

            fn compute_size(
                &self,
                version: i16,
            ) -> $crate::server::handlers::legacy::CodecResult<usize> {
                if version >= $codec_version_min {
                    return self.$codec.compute_size(version);
                }
                Ok($crate::server::handlers::legacy::encoded(|out| self.$old(out, version)).len())
            }
        }
    };
}
pub(crate) use encodable_by_version;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_array_count_is_refused_before_allocating() {
        let mut body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0]);
        let mut reader = Reader::new(&mut body);
        assert!(reader.array_length(4).is_err());
        let mut body = Bytes::from_static(&[0, 0, 0, 1, 0, 1, b'a']);
        let mut reader = Reader::new(&mut body);
        assert_eq!(reader.array_length(2).unwrap(), 1);
        assert_eq!(reader.string().unwrap().as_str(), "a");
    }

    #[test]
    fn strings_null_and_short() {
        let mut body = Bytes::from_static(&[0xff, 0xff, 0, 5, b'a']);
        let mut reader = Reader::new(&mut body);
        assert_eq!(reader.nullable_string().unwrap(), None);
        assert!(reader.string().is_err());
    }
}
