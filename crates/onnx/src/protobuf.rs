//! A minimal protobuf reader for `.onnx` files (ONNX's `ModelProto`), read without
//! ONNX Runtime: graph inputs for TensorRT profiles (`profile.rs`) and the weights'
//! shapes for parameter counts (`weights.rs`). Big fields (the weights) are skipped
//! by seeking, not read.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use ttc_core::{Error, Result};

/// The reader `walk_graph` hands its visitor.
pub(crate) type FileReader = Reader<BufReader<File>>;

/// Walks the `.onnx` file at `path`: `visit(reader, field, wire)` sees every field of
/// every `ModelProto.graph` and either reads it (returns `true`) or leaves it to be
/// skipped (`false`). Returns how many graphs the file holds. Errors name the file and
/// `what` was being read.
pub(crate) fn walk_graph(
    path: &Path,
    what: &str,
    mut visit: impl FnMut(&mut FileReader, u64, u64) -> std::result::Result<bool, String>,
) -> Result<usize> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let bad = |m: String| Error::model(dir, format!("reading {what} of {}: {m}", path.display()));
    let io = |e: std::io::Error| bad(e.to_string());
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = Reader {
        inner: BufReader::new(file),
        pos: 0,
    };
    let mut graphs = 0;
    while r.pos < len {
        let key = r.varint().map_err(io)?;
        let (field, wire) = (key >> 3, key & 7);
        if field != 7 || wire != 2 {
            r.skip(wire).map_err(io)?;
            continue;
        }
        graphs += 1;
        let end = r.varint().map_err(io)? + r.pos;
        while r.pos < end {
            let key = r.varint().map_err(io)?;
            let (field, wire) = (key >> 3, key & 7);
            if !visit(&mut r, field, wire).map_err(bad)? {
                r.skip(wire).map_err(io)?;
            }
        }
    }
    Ok(graphs)
}

/// A protobuf reader over a file that skips what it does not need (the weights)
/// by seeking.
pub(crate) struct Reader<R> {
    pub(crate) inner: R,
    pub(crate) pos: u64,
}

impl<R: Read + Seek> Reader<R> {
    pub(crate) fn byte(&mut self) -> std::io::Result<u8> {
        let mut b = [0u8; 1];
        self.inner.read_exact(&mut b)?;
        self.pos += 1;
        Ok(b[0])
    }

    pub(crate) fn varint(&mut self) -> std::io::Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(std::io::Error::other("a varint longer than 10 bytes"))
    }

    pub(crate) fn bytes(&mut self, len: u64) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf)?;
        self.pos += len;
        Ok(buf)
    }

    pub(crate) fn skip(&mut self, wire: u64) -> std::io::Result<()> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.skip_bytes(8),
            2 => {
                let len = self.varint()?;
                self.skip_bytes(len)
            }
            5 => self.skip_bytes(4),
            w => Err(std::io::Error::other(format!("wire type {w}"))),
        }
    }

    pub(crate) fn skip_bytes(&mut self, len: u64) -> std::io::Result<()> {
        self.inner.seek(SeekFrom::Current(len as i64))?;
        self.pos += len;
        Ok(())
    }
}

/// One field of a protobuf message: number, wire type, varint value, bytes.
pub(crate) type Field<'a> = (u64, u64, u64, &'a [u8]);

/// Fields of an in-memory protobuf message: (field, wire type, payload) where the
/// payload is the value of a varint or the bytes of a length-delimited field.
pub(crate) fn fields(mut buf: &[u8]) -> std::result::Result<Vec<Field<'_>>, String> {
    fn varint(buf: &mut &[u8]) -> std::result::Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first().ok_or("a truncated varint")?;
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((field, wire, varint(&mut buf)?, &[][..])),
            2 => {
                let len = varint(&mut buf)? as usize;
                if len > buf.len() {
                    return Err("a truncated field".into());
                }
                let (data, rest) = buf.split_at(len);
                out.push((field, wire, 0, data));
                buf = rest;
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if n > buf.len() {
                    return Err("a truncated field".into());
                }
                buf = &buf[n..];
            }
            w => return Err(format!("wire type {w}")),
        }
    }
    Ok(out)
}
