"""full-text search: a stored, GIN-indexed `search` vector per ticket (title, text and
public comments, Russian stems plus verbatim tokens) and `note_words` (internal notes,
staff only), kept up to date by a trigger on comments

Revision ID: 0009_search
Revises: 0007_discord
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_search"
down_revision: str | None = "0010_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Written out, not imported: a migration must keep meaning what it meant when written.
def _words(column: str, weight: str) -> str:
    return (
        f"setweight(to_tsvector('russian'::regconfig, {column}) || "
        f"to_tsvector('simple'::regconfig, {column}), '{weight}')"
    )


SEARCH = f"{_words('title', 'A')} || {_words('text', 'B')} || comment_words"

# Comments beyond this much text per ticket are not indexed: a tsvector holds at most 1 MB.
REFRESH = """
CREATE FUNCTION comments_refresh_ticket_words() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ticket uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- A new comment appends its words: no re-reading of the ticket's other comments.
        IF NEW.internal THEN
            UPDATE tickets SET note_words = note_words || CASE
                WHEN pg_column_size(note_words) > 524288 THEN ''::tsvector
                ELSE setweight(to_tsvector('russian'::regconfig, NEW.body)
                               || to_tsvector('simple'::regconfig, NEW.body), 'C') END
            WHERE id = NEW.ticket_id;
        ELSE
            UPDATE tickets SET comment_words = comment_words || CASE
                WHEN pg_column_size(comment_words) > 524288 THEN ''::tsvector
                ELSE setweight(to_tsvector('russian'::regconfig, NEW.body)
                               || to_tsvector('simple'::regconfig, NEW.body), 'C') END
            WHERE id = NEW.ticket_id;
        END IF;
        RETURN NULL;
    END IF;
    -- An edit or a removal rebuilds both from the ticket's comments.
    IF TG_OP = 'DELETE' THEN ticket := OLD.ticket_id; ELSE ticket := NEW.ticket_id; END IF;
    UPDATE tickets SET
        comment_words = coalesce((
            SELECT setweight(to_tsvector('russian'::regconfig, d) || to_tsvector('simple'::regconfig, d), 'C')
            FROM (SELECT left(string_agg(body, E'\\n' ORDER BY id), 200000) AS d
                  FROM comments WHERE ticket_id = ticket AND NOT internal) AS c
            WHERE d IS NOT NULL), ''::tsvector),
        note_words = coalesce((
            SELECT setweight(to_tsvector('russian'::regconfig, d) || to_tsvector('simple'::regconfig, d), 'C')
            FROM (SELECT left(string_agg(body, E'\\n' ORDER BY id), 200000) AS d
                  FROM comments WHERE ticket_id = ticket AND internal) AS c
            WHERE d IS NOT NULL), ''::tsvector)
    WHERE id = ticket;
    RETURN NULL;
END
$$
"""


BACKFILL = """
UPDATE tickets t SET {column} = setweight(
    to_tsvector('russian'::regconfig, c.d) || to_tsvector('simple'::regconfig, c.d), 'C')
FROM (SELECT ticket_id, left(string_agg(body, E'\\n' ORDER BY id), 200000) AS d
      FROM comments WHERE {which} GROUP BY ticket_id) AS c
WHERE c.ticket_id = t.id
"""


def upgrade() -> None:
    for name in ("comment_words", "note_words"):
        op.add_column(
            "tickets",
            sa.Column(
                name,
                postgresql.TSVECTOR(),
                server_default=sa.text("''::tsvector"),
                nullable=False,
            ),
        )
    # Existing comments: one set-based statement per kind before the trigger exists.
    op.execute(BACKFILL.format(column="comment_words", which="NOT internal"))
    op.execute(BACKFILL.format(column="note_words", which="internal"))
    op.add_column(
        "tickets",
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(SEARCH, persisted=True),
            nullable=False,
        ),
    )
    # The planner tells a rare word (read the GIN index) from a common one (walk the
    # newest tickets) by the column's most common lexemes; the default 1,000 of them
    # leave any word outside them guessed at 0.5 % of the rows: at a million tickets a
    # rare error code would be searched by reading every ticket. 10,000 keep it exact.
    op.execute("ALTER TABLE tickets ALTER COLUMN search SET STATISTICS 1000")
    op.create_index(
        "ix_tickets_search", "tickets", ["search"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_tickets_note_words", "tickets", ["note_words"], unique=False, postgresql_using="gin"
    )
    op.execute(REFRESH)
    op.execute(
        """
        CREATE TRIGGER comments_refresh_ticket_words
        AFTER INSERT OR DELETE OR UPDATE OF body, internal ON comments
        FOR EACH ROW EXECUTE FUNCTION comments_refresh_ticket_words()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER comments_refresh_ticket_words ON comments")
    op.execute("DROP FUNCTION comments_refresh_ticket_words()")
    op.drop_index("ix_tickets_note_words", table_name="tickets")
    op.drop_index("ix_tickets_search", table_name="tickets")
    op.drop_column("tickets", "search")
    op.drop_column("tickets", "note_words")
    op.drop_column("tickets", "comment_words")
