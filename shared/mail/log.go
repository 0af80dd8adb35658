package mail

import (
	"context"
	"errors"
	"log/slog"
)

// Log "sends" by writing the message to a logger: make run's default, so a
// developer sees the notifications (and follows their links) without a
// mail server. Not for production: the text part holds the links, and an
// invitation link is a credential for whoever reads the log.
type Log struct {
	logger *slog.Logger
}

// NewLog returns a sender that writes to logger.
func NewLog(logger *slog.Logger) (*Log, error) {
	if logger == nil {
		return nil, errors.New("mail: nil logger")
	}
	return &Log{logger: logger}, nil
}

// Send checks m as the other senders do, so make run refuses what
// production would, then logs its recipient, subject, id, unsubscribe URL
// and text part at Info.
func (l *Log) Send(ctx context.Context, m Message) error {
	c, err := check(m)
	if err != nil {
		return err
	}
	l.logger.LogAttrs(ctx, slog.LevelInfo, "mail",
		slog.String("to", c.to.String()),
		slog.String("subject", c.Subject),
		slog.String("id", c.ID),
		slog.String("unsubscribe", c.Unsubscribe),
		slog.String("text", c.Text),
	)
	return nil
}
