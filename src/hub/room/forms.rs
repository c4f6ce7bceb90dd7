//! Operator forms: an agent asks, the operator answers or cancels, and the
//! answer is routed to the form's audience.

use super::*;

fn check_fields(fields: &[Field]) -> Result<(), HubError> {
    if fields.is_empty() || fields.len() > 20 {
        return Err(HubError::invalid("fields: a form has 1..20 fields"));
    }
    let mut keys = BTreeSet::new();
    for (i, f) in fields.iter().enumerate() {
        check_len(&format!("fields[{i}].key"), &f.key, 1, 64)?;
        check_len(&format!("fields[{i}].label"), &f.label, 1, 200)?;
        if !keys.insert(f.key.as_str()) {
            return Err(HubError::invalid(format!(
                "fields[{i}].key: {:?} is used twice",
                f.key
            )));
        }
        if f.options.len() > 32 {
            return Err(HubError::invalid(format!(
                "fields[{i}].options: at most 32"
            )));
        }
        for opt in &f.options {
            check_len(&format!("fields[{i}].options"), opt, 0, 200)?;
        }
        let choice = matches!(f.kind, FieldType::Radio | FieldType::Checkbox);
        if choice && f.options.is_empty() {
            return Err(HubError::invalid(format!(
                "fields[{i}].options: a choice field needs at least one option"
            )));
        }
        if !choice && !f.options.is_empty() {
            return Err(HubError::invalid(format!(
                "fields[{i}].options: a text field takes no options"
            )));
        }
    }
    Ok(())
}

impl Room {
    /// `POST /ask`. Checks values, token, stopped, bucket, target, in that order.
    pub fn ask(
        &mut self,
        token: &str,
        to: &str,
        title: &str,
        fields: Vec<Field>,
    ) -> Result<(String, String), HubError> {
        check_len("title", title, 1, 200)?;
        check_fields(&fields)?;
        check_len("to", to, 1, MAX_NAME_CHARS)?;
        let name = self.authenticate(token)?;
        if self.mode == Mode::Stopped {
            return Err(HubError::Stopped);
        }
        self.spend(&name)?;
        if to != BROADCAST {
            check_channel("to", to)
                .map_err(|_| HubError::invalid("form target must be 'all' or a #channel"))?;
        }
        if self.forms.len() >= MAX_FORMS {
            return Err(HubError::Limit("pending form limit reached"));
        }
        if is_channel(to) {
            self.subscribe(&name, to)?;
        }
        let form = Form {
            id: self.ids.next(),
            title: title.to_string(),
            asker: name.clone(),
            to: to.to_string(),
            fields,
            status: "pending".to_string(),
            answers: None,
            ts: now_unix(),
            seq: 0,
        };
        let id = form.id.clone();
        self.feed
            .publish(json!({"type": "form", "form": form}).to_string());
        self.forms.push(form);
        // After the change: the notice's record carries a meta that has it.
        self.changed();
        self.notice(format!("{name} asks the operator: \"{title}\" (for {to})"));
        self.notify(
            "question",
            format!("{name} asks: {title}"),
            json!({"id": id, "from": name, "title": title, "to": to}),
        );
        Ok((id, to.to_string()))
    }

    /// `GET /forms`: pending forms, oldest first.
    pub fn forms(&self) -> &[Form] {
        &self.forms
    }

    fn take_form(&mut self, id: &str) -> Result<Form, HubError> {
        let i = self
            .forms
            .iter()
            .position(|f| f.id == id)
            .ok_or_else(|| HubError::NotFound(format!("no pending form {id:?}")))?;
        Ok(self.forms.remove(i))
    }

    /// Operator: answers a pending form; the answer goes to its audience.
    pub fn answer_form(
        &mut self,
        id: &str,
        answers: serde_json::Map<String, Value>,
    ) -> Result<Value, HubError> {
        self.changed();
        let form = self
            .forms
            .iter()
            .find(|f| f.id == id)
            .ok_or_else(|| HubError::NotFound(format!("no pending form {id:?}")))?;
        for key in answers.keys() {
            if !form.fields.iter().any(|f| &f.key == key) {
                return Err(HubError::invalid(format!("answers: no field {key:?}")));
            }
        }
        let mut recap = format!("The operator answered \"{}\":", form.title);
        for field in &form.fields {
            let value = answers.get(&field.key);
            let shown = match value {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(other) => other.to_string(),
            };
            if field.required && shown.trim().is_empty() {
                return Err(HubError::invalid(format!(
                    "answers: {:?} is required",
                    field.key
                )));
            }
            let shown = if shown.is_empty() {
                "(no answer)"
            } else {
                &shown
            };
            recap.push_str(&format!("\n- {}: {shown}", field.label));
        }
        let form = self.take_form(id)?;
        let answers = Value::Object(answers);
        self.resolve_form(&form, recap, "answered", answers.clone());
        Ok(answers)
    }

    /// Operator: cancels a pending form and tells its audience.
    pub fn cancel_form(&mut self, id: &str) -> Result<(), HubError> {
        self.changed();
        let form = self.take_form(id)?;
        let text = format!("The operator cancelled the form \"{}\".", form.title);
        self.resolve_form(&form, text, "cancelled", Value::Null);
        Ok(())
    }

    fn resolve_form(&mut self, form: &Form, content: String, status: &str, answers: Value) {
        self.since_human = 0;
        let mut msg = self.message("human", &form.to, content, Kind::Answer);
        msg.meta = Some(json!({
            "form_id": form.id,
            "title": form.title,
            "status": status,
            "answers": answers.clone(),
        }));
        self.route(msg);
        let mut event = json!({"type": "form_resolved", "id": form.id, "status": status});
        if status == "answered" {
            event["answers"] = answers;
        }
        self.feed.publish(event.to_string());
    }
}
