//! Reading a record from a group of sources, and reading sources whole in
//! the order GNU parallel reads them (which tells when sources share a
//! stream: `:::: - :::: -`).

use std::io;

use super::{Columns, Record};

/// A group of sources that advance together.
pub(super) struct Group {
    pub(super) sources: Vec<Columns>,
}

pub(super) fn read_group_item(group: &mut Group) -> io::Result<Option<Record>> {
    let mut record = Vec::new();
    for source in &mut group.sources {
        match source.next().transpose()? {
            Some(columns) => record.extend(columns),
            None => return Ok(None),
        }
    }
    Ok(Some(record))
}

pub(super) fn read_all(group: &mut Group) -> io::Result<Vec<Record>> {
    let mut all = Vec::new();
    while let Some(record) = read_group_item(group)? {
        all.push(record);
    }
    Ok(all)
}

/// Every source read whole, one after the other.
pub(super) fn read_each(sources: Vec<Columns>) -> io::Result<Vec<Vec<Vec<Vec<u8>>>>> {
    sources.into_iter().map(Iterator::collect).collect()
}

/// Every source read whole, an item from each in turn, as GNU parallel
/// reads `--link`ed sources: it tells when sources share a stream.
pub(super) fn read_in_turns(mut sources: Vec<Columns>) -> io::Result<Vec<Vec<Vec<Vec<u8>>>>> {
    let mut read = vec![Vec::new(); sources.len()];
    loop {
        let mut any = false;
        for (source, items) in sources.iter_mut().zip(read.iter_mut()) {
            if let Some(item) = source.next().transpose()? {
                items.push(item);
                any = true;
            }
        }
        if !any {
            return Ok(read);
        }
    }
}

/// The inner groups of a product read whole, in GNU parallel's order
/// (which tells when sources share a stream): a first record of every
/// group, the outer one too, then the rest of each inner group, the last
/// group first. Returns the outer group's first record and each inner
/// group's records with its width.
#[expect(clippy::type_complexity)]
pub(super) fn read_as_gnu(
    outer: &mut Group,
    mut rest: Vec<Group>,
) -> io::Result<(Option<Record>, Vec<(Vec<Record>, usize)>)> {
    let first = read_group_item(outer)?;
    let mut read = Vec::with_capacity(rest.len());
    for group in &mut rest {
        read.push(read_group_item(group)?.into_iter().collect::<Vec<_>>());
    }
    for (group, records) in rest.iter_mut().zip(read.iter_mut()).rev() {
        records.extend(read_all(group)?);
    }
    Ok((
        first,
        read.into_iter().zip(rest.iter().map(|g| g.sources.len())).collect(),
    ))
}
