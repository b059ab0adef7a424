//! `SharedSlice<T>` and `SharedSliceMut<T>`: shared memory typed as `[T]`.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{SharedBytes, SharedBytesMut, wire};
use crate::error::{Error, ErrorKind};

/// Refuses zero-sized element types at compile time: their count could
/// not be told from a byte length.
struct NotZeroSized<T>(PhantomData<T>);

impl<T> NotZeroSized<T> {
    const OK: () = assert!(
        std::mem::size_of::<T>() > 0,
        "forkpool: SharedSlice<T> needs an element type with a size"
    );
}

/// `bytes` as values of `T`. Mappings are page-aligned and lengths are a
/// whole number of values (checked when made), so the cast cannot fail;
/// an empty slice has no mapping, hence no aligned address, and is made
/// directly.
fn as_values<T: Pod>(bytes: &[u8]) -> &[T] {
    if bytes.is_empty() {
        return &[];
    }
    bytemuck::try_cast_slice(bytes).unwrap_or_default()
}

/// A slice of plain-old-data values in shared memory: what [`SharedBytes`]
/// is for bytes, for `f64`, `u32`, `[f32; 3]` or any `bytemuck::Pod` type.
///
/// ```
/// use forkpool::{Pool, SharedSlice};
///
/// let pool = Pool::builder().workers(1).build()?;
/// let xs = SharedSlice::<f64>::copy_from(&[1.0, 2.5, 4.0])?;
/// let sum = pool.submit(|v: SharedSlice<f64>| v.iter().sum::<f64>(), xs).join();
/// assert_eq!(sum, Ok(7.5));
/// # Ok::<(), forkpool::Error>(())
/// ```
///
/// Outside the pool's own messages it serializes as the plain bytes of
/// its values, in this machine's byte order.
pub struct SharedSlice<T> {
    bytes: SharedBytes,
    values: PhantomData<T>,
}

impl<T: Pod> SharedSlice<T> {
    /// Copies `values` into new shared memory.
    pub fn copy_from(values: &[T]) -> Result<SharedSlice<T>, Error> {
        #[allow(clippy::let_unit_value)]
        let () = NotZeroSized::<T>::OK;
        Ok(SharedSlice {
            bytes: SharedBytes::copy_from(bytemuck::cast_slice(values))?,
            values: PhantomData,
        })
    }

    /// Views `bytes` as values of `T`; gives the bytes back if their
    /// length is not a whole number of values.
    pub fn from_bytes(bytes: SharedBytes) -> Result<SharedSlice<T>, SharedBytes> {
        #[allow(clippy::let_unit_value)]
        let () = NotZeroSized::<T>::OK;
        if !bytes.len().is_multiple_of(std::mem::size_of::<T>()) {
            return Err(bytes);
        }
        Ok(SharedSlice {
            bytes,
            values: PhantomData,
        })
    }

    /// The same memory, as bytes.
    pub fn as_bytes(&self) -> &SharedBytes {
        &self.bytes
    }

    /// The same memory, as bytes.
    pub fn into_bytes(self) -> SharedBytes {
        self.bytes
    }
}

impl<T: Pod> Deref for SharedSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        as_values(&self.bytes)
    }
}

impl<T> Clone for SharedSlice<T> {
    fn clone(&self) -> Self {
        SharedSlice {
            bytes: self.bytes.clone(),
            values: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for SharedSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSlice").field("len", &self.len()).finish()
    }
}

impl<T: Pod + PartialEq> PartialEq for SharedSlice<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T: Pod> Serialize for SharedSlice<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.bytes.serialize(serializer)
    }
}

impl<'de, T: Pod> Deserialize<'de> for SharedSlice<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedSlice<T>, D::Error> {
        #[allow(clippy::let_unit_value)]
        let () = NotZeroSized::<T>::OK;
        let segment = wire::deserialize(deserializer, std::mem::size_of::<T>())?;
        Ok(SharedSlice {
            bytes: SharedBytes::from_segment(segment),
            values: PhantomData,
        })
    }
}

/// Shared memory being filled, typed as `[T]`; see [`SharedBytesMut`].
///
/// ```
/// let mut xs = forkpool::SharedSliceMut::<u32>::zeroed(1000)?;
/// xs.iter_mut().enumerate().for_each(|(i, x)| *x = i as u32);
/// let xs = xs.freeze();
/// assert_eq!(xs[999], 999);
/// # Ok::<(), forkpool::Error>(())
/// ```
pub struct SharedSliceMut<T> {
    bytes: SharedBytesMut,
    values: PhantomData<T>,
}

impl<T: Pod> SharedSliceMut<T> {
    /// `len` zeroed values of new shared memory.
    pub fn zeroed(len: usize) -> Result<SharedSliceMut<T>, Error> {
        #[allow(clippy::let_unit_value)]
        let () = NotZeroSized::<T>::OK;
        let bytes = len.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("{len} values do not fit in the address space"),
            )
        })?;
        Ok(SharedSliceMut {
            bytes: SharedBytesMut::zeroed(bytes)?,
            values: PhantomData,
        })
    }

    /// Seals it (see [`SharedBytesMut::freeze`]).
    pub fn freeze(self) -> SharedSlice<T> {
        SharedSlice {
            bytes: self.bytes.freeze(),
            values: PhantomData,
        }
    }
}

impl<T: Pod> Deref for SharedSliceMut<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        as_values(&self.bytes)
    }
}

impl<T: Pod> DerefMut for SharedSliceMut<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        if self.bytes.is_empty() {
            return &mut [];
        }
        bytemuck::try_cast_slice_mut(&mut self.bytes).unwrap_or_default()
    }
}

impl<T: Pod> fmt::Debug for SharedSliceMut<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSliceMut").field("len", &self.len()).finish()
    }
}
