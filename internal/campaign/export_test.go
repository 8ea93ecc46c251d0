package campaign

// RecipientsPath is the list file; only tests need to find it.
func (c *Campaign) RecipientsPath() string { return c.listPath }
