"""Read models in `public` (contacts, active_patients), snapshot bookkeeping, and the RLS wall.

Row-Level Security is enabled and FORCED on both read models, with one policy: a row is visible
only when its organization_id equals the transaction's `app.org_id`. Superusers (the embedded
Postgres connects as `postgres`) bypass RLS even when forced, so the projector's reads and writes
run as the NOLOGIN role `practice_projector` (`SET LOCAL ROLE` per transaction, see
`repository/scoped.py`); the connecting user is granted that role here.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROLE = "practice_projector"


def upgrade(schema: str) -> None:
    op.execute(
        f"""
        DO $$ BEGIN
            CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object THEN NULL;
        END $$;
        """
    )
    # Membership lets a non-superuser service account SET ROLE; a superuser needs none but the
    # grant is harmless. It fails only when the connecting user *is* the role, which it never is.
    op.execute(f"GRANT {ROLE} TO CURRENT_USER")
    op.execute(
        """
        CREATE TABLE public.contacts (
            id uuid PRIMARY KEY,
            organization_id varchar(128) NOT NULL,
            first_name text,
            last_name text,
            name text,
            normalized_name text,
            email text,
            emails jsonb NOT NULL DEFAULT '[]'::jsonb,
            phone text,
            phones jsonb NOT NULL DEFAULT '[]'::jsonb,
            contact_type text,
            source varchar(16) NOT NULL CHECK (source IN ('clio', 'cliniko')),
            clio_id text,
            clio_etag text,
            clio_match_method varchar(32),
            cliniko_patient_id text,
            cliniko_match_method varchar(32),
            provider_updated_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX contacts_org_clio_id ON public.contacts (organization_id, clio_id) "
        "WHERE clio_id IS NOT NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX contacts_org_cliniko_patient_id ON public.contacts "
        "(organization_id, cliniko_patient_id) WHERE cliniko_patient_id IS NOT NULL"
    )
    op.execute("CREATE INDEX contacts_org_email ON public.contacts (organization_id, email)")
    op.execute(
        "CREATE INDEX contacts_org_normalized_name ON public.contacts (organization_id, normalized_name)"
    )
    op.execute("CREATE INDEX contacts_org_created ON public.contacts (organization_id, created_at, id)")
    op.execute(
        """
        CREATE TABLE public.active_patients (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            organization_id varchar(128) NOT NULL,
            contact_id uuid NOT NULL REFERENCES public.contacts (id),
            cliniko_patient_id text NOT NULL,
            recent_appointment_count integer NOT NULL DEFAULT 0,
            upcoming_appointment_count integer NOT NULL DEFAULT 0,
            total_appointment_count integer NOT NULL DEFAULT 0,
            last_appointment_date timestamptz,
            recent_appointments jsonb NOT NULL DEFAULT '[]'::jsonb,
            upcoming_appointments jsonb NOT NULL DEFAULT '[]'::jsonb,
            search_date_from date NOT NULL,
            search_date_to date NOT NULL,
            run_id uuid NOT NULL,
            link_method varchar(32) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT active_patients_org_patient UNIQUE (organization_id, cliniko_patient_id)
        )
        """
    )
    op.execute("CREATE INDEX active_patients_org_run ON public.active_patients (organization_id, run_id)")
    op.execute("CREATE INDEX active_patients_contact ON public.active_patients (contact_id)")
    # Snapshot bookkeeping: the order in which runs were first seen per org, so a late
    # snapshot_complete of an older run can never delete a newer run's rows.
    op.execute(
        f"""
        CREATE TABLE "{schema}".snapshot_runs (
            organization_id varchar(128) NOT NULL,
            run_id uuid NOT NULL,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            first_seen_at timestamptz NOT NULL DEFAULT now(),
            expected_count integer,
            seen_count integer,
            deleted_count integer,
            status varchar(16) NOT NULL DEFAULT 'receiving',
            completed_at timestamptz,
            PRIMARY KEY (organization_id, run_id)
        )
        """
    )
    for table in ("contacts", "active_patients"):
        op.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE public.{table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_org_isolation ON public.{table} "
            "USING (organization_id = current_setting('app.org_id', true)) "
            "WITH CHECK (organization_id = current_setting('app.org_id', true))"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO {ROLE}")
    op.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {ROLE}')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{schema}".snapshot_runs TO {ROLE}')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{schema}".processed_events TO {ROLE}')


def downgrade(schema: str) -> None:
    op.execute("DROP TABLE IF EXISTS public.active_patients")
    op.execute("DROP TABLE IF EXISTS public.contacts")
    op.execute(f'DROP TABLE IF EXISTS "{schema}".snapshot_runs')
