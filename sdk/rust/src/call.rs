//! Building and running cmdlet calls.

use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::exorun::automation::cmdlets;
use crate::bindings::exorun::automation::types::Call;
use crate::value::Param;

/// Starts a call: `cmdlet("Get-Mailbox").param("ResultSize", "Unlimited")`.
pub fn cmdlet(name: &str) -> Cmdlet {
    Cmdlet {
        name: name.to_owned(),
        params: Vec::new(),
    }
}

/// A cmdlet call being built.
#[derive(Clone, Debug)]
pub struct Cmdlet {
    name: String,
    params: Vec<(String, Param)>,
}

impl Cmdlet {
    /// Adds `-name value`.
    pub fn param(mut self, name: &str, value: impl Into<Param>) -> Self {
        self.params.push((name.to_owned(), value.into()));
        self
    }

    /// Adds a switch such as `-Confirm:$false`.
    pub fn switch(self, name: &str, on: bool) -> Self {
        self.param(name, on)
    }

    fn into_call(self) -> Call {
        Call {
            cmdlet: self.name,
            parameters: self
                .params
                .into_iter()
                .map(|(n, v)| (n, v.into_wit()))
                .collect(),
        }
    }

    /// Runs the call and returns every output object as JSON text.
    /// Without `-ResultSize` Exchange returns at most 1000 objects.
    pub fn invoke_raw(self) -> Result<Vec<String>, Error> {
        Ok(cmdlets::invoke(&self.into_call())?)
    }

    /// Runs the call and returns the objects as JSON values.
    pub fn invoke(self) -> Result<Vec<serde_json::Value>, Error> {
        self.invoke_as()
    }

    /// Runs the call and parses each object as `T` (see [`crate::objects`]).
    pub fn invoke_as<T: DeserializeOwned>(self) -> Result<Vec<T>, Error> {
        self.invoke_raw()?
            .iter()
            .map(|o| serde_json::from_str(o).map_err(Error::from))
            .collect()
    }

    /// Opens a paged read; each item is one page of JSON texts.
    pub fn pages(self) -> Result<Pages, Error> {
        Ok(Pages {
            reader: Some(cmdlets::open_pages(&self.into_call())?),
        })
    }

    /// Iterates over the objects one page at a time, parsed as `T`; only
    /// one page is in memory at once.
    pub fn objects<T: DeserializeOwned>(self) -> Result<Objects<T>, Error> {
        Ok(Objects {
            pages: self.pages()?,
            current: Vec::new().into_iter(),
            _marker: std::marker::PhantomData,
        })
    }
}

impl From<Cmdlet> for Call {
    fn from(c: Cmdlet) -> Call {
        c.into_call()
    }
}

/// Pages of a result set, fetched lazily.
pub struct Pages {
    reader: Option<cmdlets::Pages>,
}

impl Iterator for Pages {
    type Item = Result<Vec<String>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let reader = self.reader.as_ref()?;
        match reader.next() {
            Ok(Some(page)) => Some(Ok(page)),
            Ok(None) => {
                self.reader = None;
                None
            }
            Err(e) => {
                self.reader = None;
                Some(Err(e.into()))
            }
        }
    }
}

/// Objects of a paged read, parsed one at a time.
pub struct Objects<T> {
    pages: Pages,
    current: std::vec::IntoIter<String>,
    _marker: std::marker::PhantomData<T>,
}

impl<T: DeserializeOwned> Iterator for Objects<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(text) = self.current.next() {
                return Some(serde_json::from_str(&text).map_err(Error::from));
            }
            match self.pages.next()? {
                Ok(page) => self.current = page.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Runs calls concurrently on the host and returns their results in order.
pub fn invoke_many(calls: Vec<Cmdlet>) -> Vec<Result<Vec<serde_json::Value>, Error>> {
    let calls: Vec<Call> = calls.into_iter().map(Cmdlet::into_call).collect();
    cmdlets::invoke_many(&calls)
        .into_iter()
        .map(|r| {
            r.map_err(Error::from).and_then(|objects| {
                objects
                    .iter()
                    .map(|o| serde_json::from_str(o).map_err(Error::from))
                    .collect()
            })
        })
        .collect()
}
