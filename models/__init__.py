"""The tables of Hub Pro Transport, their states, and the query helpers named after their question."""
import datetime as dt
import enum
import hmac
import secrets
import weakref

from flask_login import UserMixin
from peewee import (
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    Model,
    SQL,
    JOIN,
    TextField,
    fn,
    sort_models,
)

from models import clock, counters, search
from models.prepared import prepared

db = DatabaseProxy()


def _now():
    # Through the module attribute, so tests that move the clock move column defaults too.
    return clock.now()


def _session_key():
    return secrets.token_urlsafe(24)


class SignedIn(UserMixin):
    """What a public account and a staff member share: a session names the account and its current session key.

    The key is kept in the database: changing it (logout, a new password, a deletion) ends every session of the
    account at once, on every machine, whatever cookies were copied before.
    """

    #: The prefix of the session identifier: « u » for public accounts, « s » for staff.
    session_prefix = ""

    def get_id(self):
        return f"{self.session_prefix}{self.id}.{self.session_key}"

    def holds_session(self, key):
        """Does this session key (from a cookie) still open this account?"""
        return hmac.compare_digest((key or "").encode(), (self.session_key or "").encode())

    def end_sessions(self):
        """End every session of this account (on every device) by changing its key."""
        self.session_key = _session_key()
        type(self).update(session_key=self.session_key).where(type(self).id == self.id).execute()


class BaseModel(Model):
    class Meta:
        database = db


def with_total(query):
    """Add to a list's query the list's total, read with each row (``listed_total``): a page and its count in one query."""
    return query.select_extend(fn.COUNT(SQL("*")).over().alias("listed_total"))


# --- Enumerations (values are stored; labels are what users read) ---------------------------


class Role(enum.StrEnum):
    DRIVER = "driver"
    ORG_ADMIN = "org_admin"
    ORG_DEPUTY = "org_deputy"
    ORG_MANAGER = "org_manager"


#: The roles with an organisation's administrator rights (the deputy has exactly the administrator's).
ADMIN_ROLES = (Role.ORG_ADMIN, Role.ORG_DEPUTY)
ORG_ROLES = (Role.ORG_ADMIN, Role.ORG_DEPUTY, Role.ORG_MANAGER)

ROLE_LABELS = {
    Role.DRIVER: "Particulier",
    Role.ORG_ADMIN: "Administrateur",
    Role.ORG_DEPUTY: "Administrateur suppléant",
    Role.ORG_MANAGER: "Gestionnaire",
}


class OrgKind(enum.StrEnum):
    CENTRE = "centre"
    COMPANY = "entreprise"


ORG_KIND_LABELS = {OrgKind.CENTRE: "Centre de formation agréé", OrgKind.COMPANY: "Entreprise de transport"}


class StaffRole(enum.StrEnum):
    LOCAL_ADMIN = "local_admin"
    AGENT = "agent"


STAFF_ROLE_LABELS = {StaffRole.LOCAL_ADMIN: "Administrateur local", StaffRole.AGENT: "Agent instructeur"}


class AccountState(enum.StrEnum):
    """States of a driver account analysis (procedure COMPTE_PARTICULIER)."""

    EN_ANALYSE = "en_analyse"
    A_CORRIGER = "a_corriger"
    CONFORME = "conforme"
    ACTIVE = "active"


STATE_LABELS = {
    AccountState.EN_ANALYSE: "En analyse",
    AccountState.A_CORRIGER: "À corriger",
    AccountState.CONFORME: "Conforme",
    AccountState.ACTIVE: "Actif",
}


class TokenPurpose(enum.StrEnum):
    CREATE_PASSWORD = "create_password"
    RESET_PASSWORD = "reset_password"
    ACTIVATE_STAFF = "activate_staff"
    RESET_STAFF = "reset_staff"
    CORRECTION = "correction"
    #: The link e-mailed when repeated failed logins lock an account.
    UNLOCK = "unlock"


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    KEPT = "kept"
    FAILED = "failed"


OUTBOX_STATUS_LABELS = {
    OutboxStatus.PENDING: "En attente",
    OutboxStatus.SENT: "Envoyé",
    OutboxStatus.KEPT: "Conservé (pas de serveur d'envoi)",
    OutboxStatus.FAILED: "Abandonné après échecs",
}

class RequestState(enum.StrEnum):
    """States of a request (every procedure except the account analysis), DESIGN §3."""

    BROUILLON = "brouillon"
    ENVOYEE = "envoyee"
    EN_INSTRUCTION = "en_instruction"
    ATTENTE_COMPLEMENT = "attente_complement"
    ACCEPTEE = "acceptee"
    REFUSEE = "refusee"
    ANNULEE = "annulee"


class CardKind(enum.StrEnum):
    """What a card is: a driver's CQC, or a tachograph card (a driver's, or a company's)."""

    CQC = "cqc"
    TACHY_CONDUCTEUR = "tachy_conducteur"
    TACHY_ENTREPRISE = "tachy_entreprise"


CARD_KIND_LABELS = {
    CardKind.CQC: "Carte de qualification de conducteur (CQC)",
    CardKind.TACHY_CONDUCTEUR: "Carte tachygraphe conducteur",
    CardKind.TACHY_ENTREPRISE: "Carte tachygraphe entreprise",
}


class CardState(enum.StrEnum):
    EN_FABRICATION = "en_fabrication"
    EXPEDIEE = "expediee"
    LIVREE = "livree"
    ACTIVEE = "activee"
    REMPLACEE = "remplacee"
    PND = "pnd"
    #: Its holder declared it lost or stolen (a replacement request sent): it can no longer be used.
    DECLAREE_PERDUE = "declaree_perdue"
    DECLAREE_VOLEE = "declaree_volee"


#: The cards their holder declared lost or stolen: still the holder's until replaced, no longer usable.
DECLARED_MISSING = (CardState.DECLAREE_PERDUE, CardState.DECLAREE_VOLEE)


STATE_LABELS.update({
    RequestState.BROUILLON: "Brouillon",
    RequestState.ENVOYEE: "Envoyée",
    RequestState.EN_INSTRUCTION: "En cours d'instruction",
    RequestState.ATTENTE_COMPLEMENT: "En attente d'information complémentaire",
    RequestState.ACCEPTEE: "Acceptée",
    RequestState.REFUSEE: "Refusée",
    RequestState.ANNULEE: "Annulée",
    CardState.EN_FABRICATION: "Carte en fabrication",
    CardState.EXPEDIEE: "Carte expédiée",
    CardState.LIVREE: "Carte livrée",
    CardState.ACTIVEE: "Carte activée",
    CardState.REMPLACEE: "Carte remplacée",
    CardState.PND: "Pli non distribué",
    CardState.DECLAREE_PERDUE: "Déclarée perdue",
    CardState.DECLAREE_VOLEE: "Déclarée volée",
})


class TrainingKind(enum.StrEnum):
    FIMO = "FIMO"
    FCO = "FCO"
    PASSERELLE = "Passerelle"


#: Initial trainings (kept without limit); FCO is continuing training (kept 6 years).
INITIAL_TRAININGS = (TrainingKind.FIMO, TrainingKind.PASSERELLE)
#: Trainings that give the right to a new CQC (and so a qualification certificate).
CARD_TRAININGS = (TrainingKind.FIMO, TrainingKind.FCO, TrainingKind.PASSERELLE)
CATEGORIES = ("Marchandises", "Voyageurs")


class DocumentKind(enum.StrEnum):
    PHOTO = "photo"
    SIGNATURE = "signature"
    IDENTITY = "identite"
    THEFT_DECLARATION = "declaration_vol"
    LICENCE_FRONT = "permis_recto"
    LICENCE_BACK = "permis_verso"
    RESIDENCE = "residence"
    KBIS = "kbis"
    REPRESENTATIVE_ID = "identite_representant"


DOCUMENT_LABELS = {
    DocumentKind.PHOTO: "Photo d'identité",
    DocumentKind.SIGNATURE: "Signature",
    DocumentKind.IDENTITY: "Pièce d'identité",
    DocumentKind.THEFT_DECLARATION: "Déclaration de vol",
    DocumentKind.LICENCE_FRONT: "Permis de conduire (recto)",
    DocumentKind.LICENCE_BACK: "Permis de conduire (verso)",
    DocumentKind.RESIDENCE: "Déclaration de résidence normale en France",
    DocumentKind.KBIS: "Extrait Kbis ou avis de situation INSEE",
    DocumentKind.REPRESENTATIVE_ID: "Pièce d'identité du représentant légal",
}


class ProcedureCode(enum.StrEnum):
    """The procedures (« démarches ») the platform instructs (DESIGN §2)."""

    COMPTE_PARTICULIER = "COMPTE_PARTICULIER"
    CQC = "CQC"
    CQC_PERTE = "CQC_PERTE"
    CQC_VOL = "CQC_VOL"
    CQC_QUALITE = "CQC_QUALITE"
    CQC_PND = "CQC_PND"
    TACHY_CONDUCTEUR = "TACHY_CONDUCTEUR"
    TACHY_ENTREPRISE = "TACHY_ENTREPRISE"
    CONTRAT_TACHY = "CONTRAT_TACHY"
    CONTRAT_CQC = "CONTRAT_CQC"


#: The rows of the procedures table: each code with the name staff and holders read.
PROCEDURES = [
    (ProcedureCode.COMPTE_PARTICULIER, "Analyse d'un compte particulier"),
    (ProcedureCode.CQC, "Carte de qualification de conducteur (CQC)"),
    (ProcedureCode.CQC_PERTE, "Remplacement de CQC pour perte"),
    (ProcedureCode.CQC_VOL, "Remplacement de CQC pour vol"),
    (ProcedureCode.CQC_QUALITE, "Remplacement de CQC pour défaut de qualité"),
    (ProcedureCode.CQC_PND, "Réexpédition d'une CQC non distribuée"),
    (ProcedureCode.TACHY_CONDUCTEUR, "Carte tachygraphe conducteur"),
    (ProcedureCode.TACHY_ENTREPRISE, "Carte tachygraphe entreprise"),
    (ProcedureCode.CONTRAT_TACHY, "Contrat TACHY d'un établissement"),
    (ProcedureCode.CONTRAT_CQC, "Contrat CQC d'un centre de formation"),
]
#: An organisation's contract with IN Groupe: a company's TACHY contract, a centre's CQC contract.
CONTRACT_PROCEDURES = (ProcedureCode.CONTRAT_TACHY, ProcedureCode.CONTRAT_CQC)


# --- Reference data ---------------------------------------------------------------------------


#: {database: {procedure id: Procedure}}: see Procedure.all_by_id().
_PROCEDURES = weakref.WeakKeyDictionary()


class Procedure(BaseModel):
    """A procedure (« démarche ») whose files staff instruct."""

    code = CharField(unique=True)
    name = CharField()

    def __str__(self):
        return self.name

    @classmethod
    def all_by_id(cls, reload=False):
        """Return {id: procedure} of every procedure, read once per database: they are fixed reference data (created
        with the schema, read-only in the back office), and the pages every holder opens name their files' own."""
        known = _PROCEDURES.get(db.obj)
        if known is None or reload:
            known = _PROCEDURES[db.obj] = {procedure.id: procedure for procedure in cls.select()}
        return known

    @classmethod
    def id_of(cls, code):
        """Return the id of the procedure with this code (from all_by_id())."""
        for reload in (False, True):
            found = next((p.id for p in cls.all_by_id(reload).values() if p.code == code), None)
            if found is not None:
                return found
        raise cls.DoesNotExist(code)

    @classmethod
    def by_code(cls, code):
        """Return the procedure with this code."""
        return cls.get(cls.code == code)

    @classmethod
    def ids_of(cls, codes):
        """Return the ids of procedures by their codes: queries then filter on the file's own indexed column."""
        return [p.id for p in cls.select(cls.id).where(cls.code.in_([str(code) for code in codes]))]


class SireneEstablishment(BaseModel):
    """One establishment of the local copy of INSEE's Sirene register (StockEtablissement)."""

    siret = CharField(max_length=14, unique=True)
    name = CharField(default="")
    #: « A » active, « F » closed (etatAdministratifEtablissement).
    state = CharField(max_length=1)
    address = CharField(default="")
    postal_code = CharField(default="")
    city = CharField(default="")
    updated_at = DateTimeField(default=_now)


class Approval(BaseModel):
    """An approval (« agrément ») of a training centre, recorded by staff for the DREAL."""

    siret = CharField(max_length=14, index=True)
    number = CharField()
    #: « Marchandises » or « Voyageurs ».
    category = CharField()
    #: Comma-separated trainings it allows: FIMO, Passerelle, FCO.
    trainings = CharField(default="FIMO,Passerelle,FCO")
    #: Address the DREAL gave; the « Agrément CFA » notification goes there.
    email = CharField()
    granted_on = DateField()
    notified_at = DateTimeField(null=True)
    created_at = DateTimeField(default=_now)

    def training_names(self):
        """Return the approved trainings as the notification lists them (« FIMO Voyageurs »…)."""
        return [f"{t.strip()} {self.category}" for t in self.trainings.split(",") if t.strip()]

    @classmethod
    def exists_for(cls, siret):
        """Is at least one approval recorded for this SIRET?"""
        return cls.select().where(cls.siret == siret).exists()


# --- People ------------------------------------------------------------------------------------


class Organisation(BaseModel):
    """A training centre or a transport company; one account per SIRET."""

    kind = CharField()
    siret = CharField(max_length=14, unique=True)
    name = CharField()
    created_at = DateTimeField(default=_now)
    #: The principal establishment whose CQC contract this centre is attached to (it is invoiced for it).
    principal = ForeignKeyField("self", null=True, backref="attached", on_delete="SET NULL")

    def __str__(self):
        return f"{self.name} ({self.siret})"

    @property
    def kind_label(self):
        return ORG_KIND_LABELS[OrgKind(self.kind)]

    def administrators(self):
        """Return its administrators and deputies still in office, oldest first."""
        return self.members.where(User.role.in_(ADMIN_ROLES), User.deleted_at.is_null()).order_by(User.id)

    def contract(self):
        """Return its contract file still alive (draft, under way or numbered), newest first, or None."""
        return (
            Dossier.select(Dossier, Procedure).join(Procedure)
            .where(Dossier.organisation == self, Procedure.code.in_(CONTRACT_PROCEDURES),
                   Dossier.state.not_in([RequestState.ANNULEE, RequestState.REFUSEE]))
            .order_by(Dossier.id.desc())
            .first()
        )

    def contract_in_force(self):
        """Return the numbered contract it orders under (its own, or its principal's), or None."""
        payer = self.principal or self
        return (
            Contract.select(Contract, Dossier).join(Dossier)
            .where(Dossier.organisation == payer, Dossier.state == RequestState.ACCEPTEE, Contract.number.is_null(False))
            .first()
        )


class User(SignedIn, BaseModel):
    """A public account: a driver or a member of an organisation."""

    #: Trimmed and lower-cased; unique across the platform; never modified.
    email = CharField(unique=True)
    #: None until the holder sets a password from the link e-mailed to them.
    password_hash = CharField(null=True)
    role = CharField()
    organisation = ForeignKeyField(Organisation, null=True, backref="members", on_delete="CASCADE")
    last_name = CharField()
    first_name = CharField()
    function = CharField(default="")
    phone = CharField(default="")
    created_at = DateTimeField(default=_now)
    last_login_at = DateTimeField(null=True)
    #: A deleted member keeps its row (what it did stays attributed to it) but never logs in again.
    deleted_at = DateTimeField(null=True)
    #: Its address until deletion (the address itself is freed for a new account).
    deleted_email = CharField(default="")
    #: The secret every session of this account carries (SignedIn); a new one ends them all.
    session_key = CharField(default=_session_key)

    session_prefix = "u"

    @prepared
    def _signed_in(user_id):
        # Every portal page shows the unread notifications in its menu: they are counted in the account's query.
        unread = Notification.select(fn.COUNT(Notification.id)).where(Notification.user == user_id,
                                                                      Notification.read_at.is_null())
        return (User.select(User, unread.alias("unread_notifications"))
                .where(User.id == user_id, User.deleted_at.is_null()).limit(1))

    @classmethod
    def signed_in(cls, user_id):
        """Return the account a session names, None once deleted (a deleted member's session ends at its next request),
        with its ``unread_notifications``."""
        found = cls._signed_in.rows(user_id)
        return found[0] if found else None

    @property
    def is_active(self):
        return self.deleted_at is None

    @property
    def is_org_admin(self):
        return self.role in ADMIN_ROLES

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name.upper()}"

    @property
    def role_label(self):
        return ROLE_LABELS[Role(self.role)]

    @property
    def is_staff(self):
        return False

    @property
    def driver(self):
        """Return the identity this driver gave (its Driver row), or None; loaded once, or joined by a query."""
        if "_driver" not in self.__dict__:
            self._driver = Driver.get_or_none(Driver.user == self)
        return self._driver

    @driver.setter
    def driver(self, row):
        # A query joining Driver with attr="driver" hands the row over here.
        self._driver = row

    @classmethod
    def by_email(cls, email):
        """Return the account with this address, compared case-insensitively, or None."""
        return cls.get_or_none(cls.email == normalize_email(email))

    @staticmethod
    def email_taken(email, staff_too=False):
        """Is this address already used by a public account (or, with staff_too, by a staff member)?"""
        email = normalize_email(email)
        return (
            User.select().where(User.email == email).exists()
            or staff_too and Staff.select().where(Staff.email == email).exists()
        )


# The retention sweep finds the accounts never activated (no password ever set) by their age, among those only.
User.add_index(User.index(User.created_at, name="user_never_activated")
               .where(User.password_hash.is_null() & User.deleted_at.is_null()))


class Invitation(BaseModel):
    """A principal establishment's invitation to a centre to attach to its CQC contract (guide 002, case 2)."""

    principal = ForeignKeyField(Organisation, backref="invitations", on_delete="CASCADE")
    siret = CharField(max_length=14, index=True)
    #: The approval's address (given by the DREAL) the invitation was sent to.
    sent_to = CharField()
    invited_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=_now)
    #: The centre's account, once created from the invitation.
    organisation = ForeignKeyField(Organisation, null=True, backref="+", on_delete="SET NULL")
    attached_at = DateTimeField(null=True)


class Driver(BaseModel):
    """The identity a driver gave when creating the account; what staff analyse."""

    user = ForeignKeyField(User, unique=True, backref="+", on_delete="CASCADE")
    birth_date = DateField()
    birth_place = CharField()
    birth_country = CharField(default="France")
    #: Upper-cased, spaces removed: 9 characters (since 2013) or 12 digits (older NEPH number).
    licence_number = CharField(index=True)
    mobile = CharField(default="")
    address = CharField()
    address_extra = CharField(default="")
    postal_code = CharField()
    city = CharField()


#: Driver fields staff may find non-compliant, with the labels the form uses. The e-mail
#: address is not among them: it can never be modified.
DRIVER_FIELDS = {
    "last_name": "Nom",
    "first_name": "Prénom(s)",
    "birth_date": "Date de naissance",
    "birth_place": "Commune de naissance",
    "birth_country": "Pays de naissance",
    "licence_number": "Numéro de permis de conduire",
    "mobile": "Téléphone mobile",
    "address": "Adresse",
    "address_extra": "Complément d'adresse",
    "postal_code": "Code postal",
    "city": "Commune",
}


#: Request fields staff may ask to correct (« demande d'information complémentaire »).
REQUEST_FIELDS = {
    "delivery_name": "Nom du destinataire",
    "delivery_address": "Adresse de livraison",
    "delivery_address_extra": "Complément d'adresse de livraison",
    "delivery_postal_code": "Code postal de livraison",
    "delivery_city": "Commune de livraison",
}

class CompanyDriver(BaseModel):
    """A driver of a transport company (« Mes Conducteurs »), for whom its managers order tachograph cards."""

    organisation = ForeignKeyField(Organisation, backref="drivers", on_delete="CASCADE")
    last_name = CharField()
    first_name = CharField()
    birth_date = DateField()
    birth_place = CharField()
    #: Upper-cased, spaces removed: with the birth date, it matches the driver's own account, if any.
    licence_number = CharField(index=True)
    address = CharField()
    address_extra = CharField(default="")
    postal_code = CharField()
    city = CharField()
    email = CharField(default="")
    added_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=_now)

    class Meta:
        indexes = ((("organisation", "licence_number"), True),)

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name.upper()}"

    @property
    def address_lines(self):
        lines = [self.address, self.address_extra, f"{self.postal_code} {self.city}".strip()]
        return [line for line in lines if line]


#: What « Mes Conducteurs » records of a driver, as people read it.
COMPANY_DRIVER_FIELDS = {
    "last_name": "Nom",
    "first_name": "Prénom(s)",
    "birth_date": "Date de naissance",
    "birth_place": "Lieu de naissance",
    "licence_number": "Numéro de permis de conduire",
    "address": "Adresse",
    "address_extra": "Complément d'adresse",
    "postal_code": "Code postal",
    "city": "Commune",
    "email": "Adresse électronique",
}


#: The fields of an organisation's contract (legal representative, billing), as staff and holders read them.
CONTRACT_FIELDS = {
    "legal_last_name": "Nom du représentant légal",
    "legal_first_name": "Prénom du représentant légal",
    "legal_function": "Qualité du représentant légal",
    "billing_name": "Raison sociale facturée",
    "billing_address": "Adresse de facturation",
    "billing_address_extra": "Complément d'adresse de facturation",
    "billing_postal_code": "Code postal de facturation",
    "billing_city": "Commune de facturation",
    "contact_name": "Contact de facturation",
    "contact_email": "Adresse électronique du contact de facturation",
    "contact_phone": "Téléphone du contact de facturation",
}


class Consent(BaseModel):
    """A box ticked when creating an account (a driver's, an organisation administrator's), with the text it said then."""

    user = ForeignKeyField(User, backref="consents", on_delete="CASCADE")
    code = CharField()
    label = TextField()
    accepted_at = DateTimeField(default=_now)
    #: The version of the document the box accepts, as its page showed it (« 1.0 du 30/11/2026 »); none for an attestation.
    version = CharField(null=True)


class Staff(SignedIn, BaseModel):
    """An IN Groupe staff member: local administrator or agent (« Agent instructeur »)."""

    email = CharField(unique=True)
    password_hash = CharField(null=True)
    role = CharField()
    first_name = CharField(default="")
    last_name = CharField(default="")
    #: The role « Gestion des télédossiers »: a local administrator processes files only with it.
    manages_files = BooleanField(default=False)
    #: The habilitation « Données de référence »: an agent keeps approvals, Sirene, news, tariffs and subscriptions.
    manages_reference_data = BooleanField(default=False)
    active = BooleanField(default=True)
    created_by = ForeignKeyField("self", null=True, backref="created", on_delete="SET NULL")
    created_at = DateTimeField(default=_now)
    last_login_at = DateTimeField(null=True)
    #: The secret every session of this member carries (SignedIn); a new one ends them all.
    session_key = CharField(default=_session_key)
    #: The second factor: the TOTP secret (base32) of the member's authenticator application, once enrolled.
    totp_secret = CharField(null=True)
    totp_enrolled_at = DateTimeField(null=True)
    #: Hashes of the unused single-use recovery codes, one per line.
    recovery_codes = TextField(default="")
    #: The last time step whose code was accepted: a code is never accepted twice.
    totp_last_step = IntegerField(default=0)

    session_prefix = "s"

    @prepared
    def _signed_in(staff_id):
        return Staff.select().where(Staff.id == staff_id, Staff.active == True).limit(1)  # noqa: E712

    @classmethod
    def signed_in(cls, staff_id):
        """Return the staff member a session names, None once deactivated."""
        found = cls._signed_in.rows(staff_id)
        return found[0] if found else None

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def is_staff(self):
        return True

    @property
    def is_local_admin(self):
        return self.role == StaffRole.LOCAL_ADMIN

    @property
    def role_label(self):
        return STAFF_ROLE_LABELS[StaffRole(self.role)]

    def procedure_codes(self):
        """Return the codes of the procedures whose files this staff member may see."""
        if self.is_local_admin:
            return {code for code, _ in PROCEDURES}
        query = Procedure.select(Procedure.code).join(Habilitation).where(Habilitation.staff == self)
        return {p.code for p in query}

    def can_process(self, procedure_code):
        """May this staff member act on files of this procedure?"""
        if not self.active:
            return False
        if self.is_local_admin:
            return self.manages_files
        return procedure_code in self.procedure_codes()


class Habilitation(BaseModel):
    """An agent's right to see and process the files of one procedure."""

    staff = ForeignKeyField(Staff, backref="habilitations", on_delete="CASCADE")
    procedure = ForeignKeyField(Procedure, backref="habilitations", on_delete="CASCADE")

    class Meta:
        indexes = ((("staff", "procedure"), True),)


class Subscription(BaseModel):
    """The instructing service's subscription (« abonnement ») to a procedure (guide 003)."""

    procedure = ForeignKeyField(Procedure, unique=True, backref="subscriptions", on_delete="CASCADE")
    #: « Modalité d'accès »: a mandatory choice.
    access_modality = CharField()
    #: New files reach the service from this date.
    start_date = DateField()
    #: « Notifications »: told of every new file (a functional address is recommended).
    notification_email = CharField()
    created_at = DateTimeField(default=_now)

    @classmethod
    def receiving(cls, procedure_code):
        """Return the subscription that receives new files of this procedure today, or None."""
        return (
            cls.select()
            .join(Procedure)
            .where(Procedure.code == procedure_code, cls.start_date <= clock.today())
            .first()
        )


# --- Files -------------------------------------------------------------------------------------


class Dossier(BaseModel):
    """A file (« télédossier ») of one procedure; its state moves only through services.transitions."""

    procedure = ForeignKeyField(Procedure, backref="dossiers")
    #: Who opened it: the holder, or the member who acts for an organisation.
    user = ForeignKeyField(User, backref="dossiers", on_delete="CASCADE")
    #: The organisation a file is made for (its contract, its cards); every member with the right sees it.
    organisation = ForeignKeyField(Organisation, null=True, backref="dossiers", on_delete="CASCADE")
    state = CharField(index=True)
    created_at = DateTimeField(default=_now)
    #: When the file last reached the service (creation, or a correction sent back).
    submitted_at = DateTimeField(default=_now, index=True)
    updated_at = DateTimeField(default=_now)
    #: When staff were alerted that this analysis is late (once per submission).
    overdue_alerted_at = DateTimeField(null=True)
    #: When the procedure's subscription was told of this file.
    subscription_notified_at = DateTimeField(null=True)
    #: When the holder was last reminded of an unanswered information request.
    reminded_at = DateTimeField(null=True)
    #: When the holder was warned that an untouched draft will be erased.
    draft_warned_at = DateTimeField(null=True)
    #: When retention erased its documents and the personal data typed (a cancelled file, a file refused a year ago).
    erased_at = DateTimeField(null=True)
    #: When staff last decided on it (accepted or refused; an account declared compliant or not).
    decided_at = DateTimeField(null=True)
    #: The price frozen when the holder paid: amount excluding VAT and VAT rate (None: free).
    price_ht = DecimalField(max_digits=10, decimal_places=2, null=True)
    vat_rate = DecimalField(max_digits=5, decimal_places=2, null=True)

    class Meta:
        # A queue reads files of its procedures in one state, or in every state, oldest sent first.
        indexes = ((("procedure", "state", "submitted_at"), False), (("procedure", "submitted_at"), False),
                   # The dashboard reads the decisions of the last 30 days and their durations from this index alone.
                   (("procedure", "decided_at", "submitted_at"), False))

    @property
    def state_label(self):
        return STATE_LABELS.get(self.state, self.state)

    @classmethod
    def visible_to(cls, staff):
        """Return the files this staff member may see: the one scope every staff query goes through."""
        query = cls.select(cls, Procedure).join(Procedure)
        if staff.is_local_admin:
            return query
        allowed = Habilitation.select(Habilitation.procedure).where(Habilitation.staff == staff)
        return query.where(cls.procedure.in_(allowed))

    @classmethod
    def requests_of(cls, user):
        """Return a holder's requests (every procedure but the account analysis), newest first.

        A member of an organisation sees the organisation's files: all of them as an administrator,
        the card requests as a manager.
        """
        return cls._requests(*cls._scope_of(user))

    @classmethod
    def listed_for(cls, user, limit, offset):
        """Return a page of the rows of requests_of(user) (« Mes demandes »), each with the list's ``listed_total``."""
        return cls._named(cls._listed.rows(*cls._scope_of(user), limit, offset))

    @classmethod
    def count_for(cls, user):
        """Return how many rows requests_of(user) has."""
        return cls._counted.scalar(*cls._scope_of(user))

    @classmethod
    def under_way_for(cls, user):
        """Return the rows of requests_of(user) neither cancelled nor refused (the home page's follow-up)."""
        return cls._named(cls._under_way.rows(*cls._scope_of(user)))

    @staticmethod
    def _named(dossiers):
        """Give files read without their procedure (the holder's lists) their procedure, from Procedure.all_by_id()."""
        procedures = Procedure.all_by_id()
        if any(dossier.procedure_id not in procedures for dossier in dossiers):
            procedures = Procedure.all_by_id(reload=True)
        for dossier in dossiers:
            dossier.procedure = procedures[dossier.procedure_id]
            dossier._dirty.discard("procedure")
        return dossiers

    @staticmethod
    def _scope_of(user):
        """Return (scope, the owner's id, the procedures whose files are not listed) of an account's requests."""
        hidden = [ProcedureCode.COMPTE_PARTICULIER]
        if user.organisation_id is None:
            scope, owner_id = "own", user.id
        elif user.is_org_admin:
            scope, owner_id = "organisation", user.organisation_id
        else:
            scope, owner_id = "card requests", user.organisation_id
            hidden += CONTRACT_PROCEDURES
        return scope, owner_id, [Procedure.id_of(code) for code in hidden]

    @classmethod
    def _requests(cls, scope, owner_id, hidden, *, joined=True):
        """The query of requests_of(); ``joined=False`` reads the files alone (the holder's lists name their
        procedures with _named())."""
        mine = cls.user == owner_id if scope == "own" else cls.organisation == owner_id
        query = cls.select(cls, Procedure).join(Procedure) if joined else cls.select()
        return query.where(mine, cls.procedure.not_in(hidden)).order_by(cls.created_at.desc(), cls.id.desc())

    _listed = prepared(lambda scope, owner_id, hidden, limit, offset: with_total(
        Dossier._requests(scope, owner_id, hidden, joined=False)).limit(limit).offset(offset))
    _counted = prepared(lambda scope, owner_id, hidden: Dossier._requests(scope, owner_id, hidden, joined=False)
                        .select(fn.COUNT(Dossier.id)).order_by())
    _under_way = prepared(lambda scope, owner_id, hidden: Dossier._requests(scope, owner_id, hidden, joined=False).where(
        Dossier.state.not_in([RequestState.ANNULEE, RequestState.REFUSEE])))

    @classmethod
    def account_of(cls, user):
        """Return the account-analysis file of this driver, or None."""
        return (
            cls.select()
            .join(Procedure)
            .where(cls.user == user, Procedure.code == ProcedureCode.COMPTE_PARTICULIER)
            .first()
        )

    def open_anomalies(self):
        """Return what staff found non-compliant and the holder has not corrected yet."""
        return self.anomalies.where(Anomaly.corrected_at.is_null()).order_by(Anomaly.id)


# The retention sweep reads the cancelled and refused files not erased yet, by state and age, from this index only.
Dossier.add_index(Dossier.index(Dossier.state, Dossier.updated_at, name="dossier_to_erase")
                  .where(Dossier.erased_at.is_null() & Dossier.state.in_([RequestState.ANNULEE, RequestState.REFUSEE])))


class HistoryStep:
    """What a file's and a card's history rows share: who made the step, as people read it."""

    @classmethod
    def with_actors(cls, owner_field, owner_id):
        """Return the steps of one file (or card), oldest first, their actors joined (no query per step)."""
        return (cls.select(cls, User, Staff)
                .join(User, JOIN.LEFT_OUTER, on=(cls.user == User.id), attr="user")
                .switch(cls).join(Staff, JOIN.LEFT_OUTER, on=(cls.staff == Staff.id), attr="staff")
                .where(owner_field == owner_id).order_by(cls.at, cls.id))

    @property
    def actor(self):
        if self.staff_id:
            return f"{self.staff} (IN Groupe)"
        if self.user_id:
            return self.user.full_name
        return "Plateforme"


class StateCount(BaseModel):
    """How many files a procedure holds in a state: kept by triggers on dossier (models/counters.py)."""

    procedure = ForeignKeyField(Procedure, on_delete="CASCADE")
    state = CharField()
    count = IntegerField(default=0)

    class Meta:
        indexes = ((("procedure", "state"), True),)

    @classmethod
    def of(cls, procedure_ids):
        """Return {state: files} over these procedures."""
        totals = {}
        for row in cls.select().where(cls.procedure.in_(list(procedure_ids))):
            totals[row.state] = totals.get(row.state, 0) + row.count
        return totals

    @classmethod
    def by_procedure(cls, states):
        """Return {(procedure id, state): files} for these states."""
        return {(row.procedure_id, row.state): row.count for row in cls.select().where(cls.state.in_(list(states)))}


class DossierEvent(HistoryStep, BaseModel):
    """One step of a file's history: who moved it, when, from, to, and why."""

    dossier = ForeignKeyField(Dossier, backref="history", on_delete="CASCADE")
    event = CharField()
    from_state = CharField(default="")
    to_state = CharField()
    comment = TextField(default="")
    staff = ForeignKeyField(Staff, null=True, on_delete="SET NULL")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    at = DateTimeField(default=_now)



class Anomaly(BaseModel):
    """A field staff found non-compliant, with the reason, and what the holder changed it to."""

    dossier = ForeignKeyField(Dossier, backref="anomalies", on_delete="CASCADE")
    field = CharField()
    reason = TextField()
    old_value = TextField(default="")
    new_value = TextField(null=True)
    created_at = DateTimeField(default=_now)
    corrected_at = DateTimeField(null=True)

    @property
    def field_label(self):
        return ITEM_LABELS.get(self.field, self.field)


# --- Trainings, certificates, CQC requests, cards ---------------------------------------------


class Training(BaseModel):
    """A training (FIMO, FCO, Passerelle) a centre recorded for a driver; its summary is the
    « récapitulatif de formation » on the driver's account."""

    centre = ForeignKeyField(Organisation, backref="trainings")
    recorded_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    kind = CharField()
    #: « Marchandises » or « Voyageurs ».
    category = CharField()
    start_date = DateField()
    end_date = DateField()
    last_name = CharField()
    first_name = CharField()
    birth_date = DateField()
    #: Matched with the driver's account, with the birth date (same normalisation as Driver).
    licence_number = CharField(index=True)
    #: The driver's account once matched (None until that driver's account is accepted).
    user = ForeignKeyField(User, null=True, backref="trainings", on_delete="SET NULL")
    #: Stored PDF of the summary (under STORAGE_DIR), rendered once when attached.
    summary_path = CharField(null=True)
    created_at = DateTimeField(default=_now)

    @property
    def title(self):
        return f"{self.kind} {self.category}"

    @property
    def is_initial(self):
        return self.kind in INITIAL_TRAININGS

    @property
    def issued_on(self):
        """The summary's issue date: the day the centre recorded the training (Paris time)."""
        return clock.local(self.created_at).date()

    @classmethod
    def summaries_of(cls, user, category=None):
        """Return the summaries a driver sees: initial trainings always, FCO for 6 years after issue."""
        from models import deadlines

        six_years_ago = dt.datetime.combine(deadlines.add_years(clock.today(), -deadlines.FCO_SUMMARY_YEARS), dt.time())
        query = cls.select().where(
            cls.user == user, (cls.kind.in_(INITIAL_TRAININGS)) | (cls.created_at >= six_years_ago)
        )
        if category:
            query = query.where(cls.category == category)
        return query.order_by(cls.end_date.desc(), cls.id.desc())


class Certificate(BaseModel):
    """The « certificat de qualification »: proof of qualification for 4 months, in France."""

    training = ForeignKeyField(Training, unique=True, backref="certificates", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="certificates", on_delete="CASCADE")
    issued_on = DateField()
    expires_on = DateField(index=True)
    pdf_path = CharField(null=True)
    #: When the driver was warned that it ends soon without a CQC request sent.
    warned_at = DateTimeField(null=True)
    #: When the expiry sweep marked it expired.
    expired_at = DateTimeField(null=True)


class CqcRequest(BaseModel):
    """The data of a CQC request (the file itself is its Dossier)."""

    dossier = ForeignKeyField(Dossier, unique=True, backref="cqc", on_delete="CASCADE")
    #: The training that gives the right to this card; one live request per training.
    training = ForeignKeyField(Training, backref="requests")
    #: The step the driver reached, so « Reprendre » resumes there.
    step = CharField(default="identite")
    identity_confirmed = BooleanField(default=False)
    delivery_name = CharField(default="")
    delivery_address = CharField(default="")
    delivery_address_extra = CharField(default="")
    delivery_postal_code = CharField(default="")
    delivery_city = CharField(default="")

    @property
    def delivery_lines(self):
        lines = [self.delivery_name, self.delivery_address, self.delivery_address_extra,
                 f"{self.delivery_postal_code} {self.delivery_city}".strip()]
        return [line for line in lines if line]


class Document(BaseModel):
    """A file the holder uploaded to a request, stored outside the web root under a random name."""

    dossier = ForeignKeyField(Dossier, backref="documents", on_delete="CASCADE")
    kind = CharField()
    path = CharField()
    original_name = CharField(default="")
    content_type = CharField()
    size = IntegerField()
    sha256 = CharField()
    uploaded_at = DateTimeField(default=_now)
    #: Set when a newer upload of the same kind replaced this one (staff see what changed).
    replaced_at = DateTimeField(null=True)
    #: Set when retention erased the stored file (its path and name emptied): the row stays, the pages say « effacé ».
    purged_at = DateTimeField(null=True)

    @property
    def label(self):
        return DOCUMENT_LABELS.get(self.kind, self.kind)


# The retention sweep reads the documents whose file is still stored, by file, from this index only.
Document.add_index(Document.index(Document.dossier, name="document_stored").where(Document.purged_at.is_null()))


class Card(BaseModel):
    """A card ordered by an accepted request (a CQC, or a tachograph card); its state moves through services.transitions."""

    kind = CharField(default=CardKind.CQC, index=True)
    #: The driver's account holding a CQC (tachograph cards are the organisation's: None).
    user = ForeignKeyField(User, null=True, backref="cards", on_delete="CASCADE")
    #: The company a tachograph card was ordered under, and the driver of « Mes Conducteurs » it is for.
    organisation = ForeignKeyField(Organisation, null=True, backref="cards", on_delete="CASCADE")
    company_driver = ForeignKeyField(CompanyDriver, null=True, backref="cards", on_delete="SET NULL")
    dossier = ForeignKeyField(Dossier, null=True, backref="cards", on_delete="SET NULL")
    #: 5b: the card's serial number.
    number = CharField(unique=True)
    #: A CQC's « Marchandises » or « Voyageurs » (none for tachograph cards).
    category = CharField(default="")
    state = CharField(index=True)
    #: The holder as printed: a driver's names, or the company's name (last_name) on a company card.
    last_name = CharField()
    first_name = CharField(default="")
    birth_date = DateField(null=True)
    birth_place = CharField(default="")
    licence_number = CharField(default="", index=True)
    issued_on = DateField()
    expires_on = DateField(index=True)
    delivery_lines = TextField(default="")
    replaced_by = ForeignKeyField("self", null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=_now)
    #: When the organisation was reminded to renew it (3 months before it expires).
    renewal_reminded_at = DateTimeField(null=True)

    @property
    def state_label(self):
        return STATE_LABELS.get(self.state, self.state)

    @property
    def kind_label(self):
        return CARD_KIND_LABELS[CardKind(self.kind)]

    @property
    def holder_name(self):
        return f"{self.last_name.upper()} {self.first_name}".strip()


class CardEvent(HistoryStep, BaseModel):
    """One step of a card's history."""

    card = ForeignKeyField(Card, backref="history", on_delete="CASCADE")
    event = CharField()
    from_state = CharField(default="")
    to_state = CharField()
    comment = TextField(default="")
    staff = ForeignKeyField(Staff, null=True, on_delete="SET NULL")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    at = DateTimeField(default=_now)


#: The fields of a company card request staff may ask about, beyond the delivery address.
TACHY_FIELDS = {"card_count": "Nombre de cartes entreprise"}

#: What an anomaly may name: a driver field, a request field, or a document (« document:photo »).
ITEM_LABELS = {
    **DRIVER_FIELDS,
    **REQUEST_FIELDS,
    **CONTRACT_FIELDS,
    **TACHY_FIELDS,
    **{f"document:{k}": v for k, v in DOCUMENT_LABELS.items()},
    "paiement": "Paiement du remplacement",
}


# --- Money: tariffs, payments, invoices; replacements ----------------------------------------


class Product(enum.StrEnum):
    """What the platform sells; each has dated tariffs."""

    CQC = "CQC"
    CQC_REMPLACEMENT = "CQC_REMPLACEMENT"
    REEXPEDITION = "REEXPEDITION"
    TACHY_CONDUCTEUR = "TACHY_CONDUCTEUR"
    TACHY_ENTREPRISE = "TACHY_ENTREPRISE"


PRODUCTS = {
    Product.CQC: "Carte de qualification de conducteur (CQC)",
    Product.CQC_REMPLACEMENT: "Remplacement de carte de qualification de conducteur",
    Product.REEXPEDITION: "Frais de réexpédition de CQC à une nouvelle adresse",
    Product.TACHY_CONDUCTEUR: "Carte tachygraphe conducteur",
    Product.TACHY_ENTREPRISE: "Carte tachygraphe entreprise",
}


class Tariff(BaseModel):
    """A price of a product from a start date; the one in force on a day applies that day."""

    product = CharField(index=True)
    amount_ht = DecimalField(max_digits=10, decimal_places=2)
    #: VAT rate in percent (20.00).
    vat_rate = DecimalField(max_digits=5, decimal_places=2, default=20)
    start_date = DateField()

    @classmethod
    def in_force(cls, product, day):
        """Return the tariff of a product in force on a day, or None."""
        return (
            cls.select().where(cls.product == product, cls.start_date <= day).order_by(cls.start_date.desc(), cls.id.desc()).first()
        )


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    REFUSED = "refused"
    #: Paid for a file that no longer waited for it (cancelled meanwhile): the money goes back to the card.
    TO_REFUND = "to_refund"
    #: Given back through the provider, the invoice cancelled by a credit note.
    REFUNDED = "refunded"


PAYMENT_STATUS_LABELS = {
    PaymentStatus.PENDING: "En attente", PaymentStatus.PAID: "Payé", PaymentStatus.REFUSED: "Refusé",
    PaymentStatus.TO_REFUND: "À rembourser", PaymentStatus.REFUNDED: "Remboursé",
}


class Payment(BaseModel):
    """A card payment through the provider; only its signed notification marks it paid or refused."""

    reference = CharField(unique=True)
    dossier = ForeignKeyField(Dossier, backref="payments", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="payments", on_delete="CASCADE")
    product = CharField()
    description = CharField()
    amount_ht = DecimalField(max_digits=10, decimal_places=2)
    vat_rate = DecimalField(max_digits=5, decimal_places=2)
    #: What the card is charged, in cents (the protocol's unit).
    amount_cents = IntegerField()
    status = CharField(default=PaymentStatus.PENDING, index=True)
    created_at = DateTimeField(default=_now)
    settled_at = DateTimeField(null=True)
    #: The provider's own identifier of the transaction.
    provider_reference = CharField(default="")
    #: When the provider gave the money back, and its identifier of that refund.
    refunded_at = DateTimeField(null=True)
    refund_reference = CharField(default="")

    @property
    def status_label(self):
        return PAYMENT_STATUS_LABELS.get(self.status, self.status)


class PaymentNotification(BaseModel):
    """Every server-to-server notification received, kept with what was decided (audit)."""

    received_at = DateTimeField(default=_now)
    payload = TextField()
    accepted = BooleanField()
    reason = CharField(default="")


class InvoiceKind(enum.StrEnum):
    INVOICE = "facture"
    CREDIT_NOTE = "avoir"


class InvoiceSequence(BaseModel):
    """The one counter of invoice and credit-note numbers, locked while a number is taken."""

    last_number = IntegerField(default=0)


class Invoice(BaseModel):
    """An issued invoice or credit note: never edited or deleted; its PDF is stored once with its hash."""

    number = IntegerField(unique=True)
    kind = CharField(default=InvoiceKind.INVOICE)
    issued_at = DateTimeField(default=_now, index=True)
    due_on = DateField()
    user = ForeignKeyField(User, null=True, backref="invoices", on_delete="SET NULL")
    organisation = ForeignKeyField(Organisation, null=True, backref="invoices", on_delete="SET NULL")
    payment = ForeignKeyField(Payment, null=True, unique=True, backref="invoices", on_delete="SET NULL")
    #: For a credit note: the invoice it corrects.
    credits = ForeignKeyField("self", null=True, backref="credit_notes", on_delete="SET NULL")
    buyer_name = CharField()
    buyer_address = TextField()
    total_ht = DecimalField(max_digits=12, decimal_places=2)
    total_vat = DecimalField(max_digits=12, decimal_places=2)
    total_ttc = DecimalField(max_digits=12, decimal_places=2)
    pdf_path = CharField(null=True)
    pdf_sha256 = CharField(default="")
    #: For a centre's monthly invoice: the month it covers (first day).
    period = DateField(null=True)

    @property
    def label(self):
        return "Avoir" if self.kind == InvoiceKind.CREDIT_NOTE else "Facture"

    @property
    def display_number(self):
        return f"{'AV' if self.kind == InvoiceKind.CREDIT_NOTE else 'FA'}-{self.number:08d}"

    @property
    def to_business(self):
        """Is the buyer a business (an organisation)? Only a business owes late-payment penalties and the 40 € indemnity."""
        return self.organisation_id is not None


# A replayed request cannot number a second credit note on an invoice, nor a second monthly invoice of a holder.
Invoice.add_index(Invoice.index(Invoice.credits, unique=True, name="invoice_one_credit_note"))
Invoice.add_index(Invoice.index(Invoice.organisation, Invoice.period, unique=True, name="invoice_one_per_period"))


class InvoiceLine(BaseModel):
    invoice = ForeignKeyField(Invoice, backref="lines", on_delete="CASCADE")
    description = CharField()
    quantity = IntegerField(default=1)
    unit_ht = DecimalField(max_digits=10, decimal_places=2)
    vat_rate = DecimalField(max_digits=5, decimal_places=2)
    total_ht = DecimalField(max_digits=12, decimal_places=2)


class ReplacementReason(enum.StrEnum):
    """Why a Replacement row exists: a replacement's reason, or the paid re-dispatch of an undelivered card."""

    PERTE = "perte"
    VOL = "vol"
    QUALITE = "qualite"
    PND = "pnd"


class Replacement(BaseModel):
    """The data of a replacement (loss, theft, defect) or of a paid re-dispatch (the file is its Dossier)."""

    dossier = ForeignKeyField(Dossier, unique=True, backref="replacement", on_delete="CASCADE")
    card = ForeignKeyField(Card, backref="replacements")
    reason = CharField()
    step = CharField(default="declaration")
    #: The holder's declaration and commitment to return the card if found (loss, theft).
    commitment = BooleanField(default=False)
    circumstances = TextField(default="")
    #: Defective elements declared (quality), comma-separated.
    defects = TextField(default="")
    delivery_name = CharField(default="")
    delivery_address = CharField(default="")
    delivery_address_extra = CharField(default="")
    delivery_postal_code = CharField(default="")
    delivery_city = CharField(default="")
    billing_name = CharField(default="")
    billing_address = CharField(default="")
    billing_postal_code = CharField(default="")
    billing_city = CharField(default="")
    #: Quality: when IN Groupe received the returned card, and whose fault the defect is.
    received_at = DateTimeField(null=True)
    fault = CharField(default="")

    @property
    def delivery_lines(self):
        lines = [self.delivery_name, self.delivery_address, self.delivery_address_extra,
                 f"{self.delivery_postal_code} {self.delivery_city}".strip()]
        return [line for line in lines if line]

    @property
    def defect_list(self):
        return [d.strip() for d in (self.defects or "").split(",") if d.strip()]

    @property
    def billing_lines(self):
        lines = [self.billing_name, self.billing_address, f"{self.billing_postal_code} {self.billing_city}".strip()]
        return [line for line in lines if line]


class TachyReason(enum.StrEnum):
    """Why a tachograph driver card is asked for."""

    PREMIERE = "premiere"
    RENOUVELLEMENT = "renouvellement"
    PERTE = "perte"
    VOL = "vol"
    DEFAUT = "defaut"


TACHY_REASON_LABELS = {
    TachyReason.PREMIERE: "Première demande",
    TachyReason.RENOUVELLEMENT: "Renouvellement",
    TachyReason.PERTE: "Remplacement – carte perdue",
    TachyReason.VOL: "Remplacement – carte volée",
    TachyReason.DEFAUT: "Remplacement – carte défectueuse",
}
#: The reasons that replace a card still valid (the new one keeps its expiry).
TACHY_REPLACEMENTS = (TachyReason.PERTE, TachyReason.VOL, TachyReason.DEFAUT)


class TachographRequest(BaseModel):
    """The data of a tachograph card request made by a company's manager (the file is its Dossier)."""

    dossier = ForeignKeyField(Dossier, unique=True, backref="tachograph", on_delete="CASCADE")
    step = CharField(default="conducteur")
    #: A driver card: for whom, why, and the card it renews or replaces.
    company_driver = ForeignKeyField(CompanyDriver, null=True, backref="requests", on_delete="SET NULL")
    reason = CharField(default="")
    previous_card = ForeignKeyField(Card, null=True, backref="+", on_delete="SET NULL")
    identity_confirmed = BooleanField(default=False)
    #: A company card request: how many cards.
    card_count = IntegerField(default=1)
    delivery_name = CharField(default="")
    delivery_address = CharField(default="")
    delivery_address_extra = CharField(default="")
    delivery_postal_code = CharField(default="")
    delivery_city = CharField(default="")

    @property
    def reason_label(self):
        return TACHY_REASON_LABELS.get(self.reason, "")

    @property
    def delivery_lines(self):
        lines = [self.delivery_name, self.delivery_address, self.delivery_address_extra,
                 f"{self.delivery_postal_code} {self.delivery_city}".strip()]
        return [line for line in lines if line]


class Contract(BaseModel):
    """The data of an organisation's contract with IN Groupe (the file is its Dossier; staff give its number)."""

    dossier = ForeignKeyField(Dossier, unique=True, backref="contract", on_delete="CASCADE")
    step = CharField(default="representant")
    legal_last_name = CharField(default="")
    legal_first_name = CharField(default="")
    legal_function = CharField(default="")
    billing_name = CharField(default="")
    billing_address = CharField(default="")
    billing_address_extra = CharField(default="")
    billing_postal_code = CharField(default="")
    billing_city = CharField(default="")
    contact_name = CharField(default="")
    contact_email = CharField(default="")
    contact_phone = CharField(default="")
    conditions_accepted = BooleanField(default=False)
    #: Given by staff; the contract is in force from then.
    number = CharField(null=True, unique=True)
    numbered_at = DateTimeField(null=True)

    @property
    def billing_lines(self):
        lines = [self.billing_name, self.billing_address, self.billing_address_extra,
                 f"{self.billing_postal_code} {self.billing_city}".strip()]
        return [line for line in lines if line]


# --- Links, messages, traces -------------------------------------------------------------------


class Token(BaseModel):
    """A single-use link sent by e-mail; only its SHA-256 is stored."""

    purpose = CharField()
    token_hash = CharField(unique=True)
    user = ForeignKeyField(User, null=True, backref="tokens", on_delete="CASCADE")
    staff = ForeignKeyField(Staff, null=True, backref="tokens", on_delete="CASCADE")
    created_at = DateTimeField(default=_now)
    expires_at = DateTimeField(index=True)
    used_at = DateTimeField(null=True)


class OutboxMessage(BaseModel):
    """An e-mail or SMS written in the transaction that causes it, sent later by the outbox job."""

    channel = CharField(default=Channel.EMAIL)
    recipient = CharField()
    subject = CharField(default="")
    body_text = TextField()
    body_html = TextField(default="")
    #: JSON list of {"path", "filename", "content_type"}: stored files attached to the e-mail.
    attachments = TextField(default="[]")
    status = CharField(default=OutboxStatus.PENDING, index=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=_now, index=True)
    #: A dispatcher owns the message until then, so two dispatchers never send it twice.
    lease_until = DateTimeField(null=True)
    last_error = TextField(default="")
    created_at = DateTimeField(default=_now)
    sent_at = DateTimeField(null=True)
    #: When retention erased its text and attachments (a year after sending): who, when and the subject stay.
    erased_at = DateTimeField(null=True)

    @property
    def status_label(self):
        return OUTBOX_STATUS_LABELS.get(self.status, self.status)


# Retention reads the messages sent whose text is still kept, by sending time; a person's export and closure
# read the messages sent to their address.
OutboxMessage.add_index(OutboxMessage.index(OutboxMessage.sent_at, name="outbox_text_kept")
                        .where(OutboxMessage.erased_at.is_null()))
OutboxMessage.add_index(OutboxMessage.index(OutboxMessage.recipient, name="outbox_recipient"))


class Notification(BaseModel):
    """An in-app message on the holder's home page (« Mes notifications »)."""

    user = ForeignKeyField(User, backref="notifications", on_delete="CASCADE")
    message = TextField()
    #: Where « en savoir plus » leads.
    link = CharField(default="")
    created_at = DateTimeField(default=_now)
    read_at = DateTimeField(null=True)

    class Meta:
        # « Mes notifications » reads one holder's, newest first, a page at a time.
        indexes = ((("user", "created_at"), False),)

    @prepared
    def _page(user_id, limit, offset):
        return (with_total(Notification.select()).where(Notification.user == user_id)
                .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit).offset(offset))

    @prepared
    def _count(user_id):
        return Notification.select(fn.COUNT(Notification.id)).where(Notification.user == user_id)

    @classmethod
    def page_of(cls, user_id, limit, offset):
        """Return a page of a holder's notifications, read or not, newest first (« Mes notifications »), each with
        their ``listed_total``."""
        return cls._page.rows(user_id, limit, offset)

    @classmethod
    def count_of(cls, user_id):
        """Return how many notifications a holder has, read or not."""
        return cls._count.scalar(user_id)

    @property
    def is_read(self):
        return self.read_at is not None

    @prepared
    def _unread(user_id, limit):
        return (Notification.select().where(Notification.user == user_id, Notification.read_at.is_null())
                .order_by(Notification.created_at.desc()).limit(limit))

    @prepared
    def _unread_count(user_id):
        return Notification.select(fn.COUNT(Notification.id)).where(Notification.user == user_id,
                                                                    Notification.read_at.is_null())

    @classmethod
    def unread_of(cls, user_id, limit=10):
        """Return a holder's unread notifications, newest first."""
        return cls._unread.rows(user_id, limit)

    @classmethod
    def unread_count(cls, user_id):
        """Return how many notifications a holder has not read (the menu's badge)."""
        return cls._unread_count.scalar(user_id)


class News(BaseModel):
    """A staff-written item of the home page « Nouveautés »."""

    text = TextField()
    published_on = DateField()
    visible = BooleanField(default=True)

    @prepared
    def _published(today, limit):
        return News.select().where(News.visible, News.published_on <= today).order_by(News.published_on.desc()).limit(limit)

    #: Bumped by every write of this process: what a page keeps of the news is stale once it changes.
    version = 0

    @classmethod
    def current(cls, limit=5):
        """Return the news shown on home pages, newest first."""
        return cls._published.rows(clock.today(), limit)

    def save(self, *args, **kwargs):
        type(self).version += 1
        return super().save(*args, **kwargs)

    def delete_instance(self, *args, **kwargs):
        type(self).version += 1
        return super().delete_instance(*args, **kwargs)


class AuditLog(BaseModel):
    """Who did what, when: every staff action and every security-relevant public one."""

    at = DateTimeField(default=_now, index=True)
    staff = ForeignKeyField(Staff, null=True, on_delete="SET NULL")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    action = CharField()
    #: What it was done to (an address, « dossier 12 »): a person's export reads the lines about them here.
    target = CharField(default="", index=True)
    detail = TextField(default="")
    ip = CharField(default="")
    #: The request that wrote the row (its X-Request-Id, shown on error pages and in the JSON logs); empty from a job.
    request_id = CharField(default="")
    #: Who acted, as written (« u12 », « s3 », empty for the platform): hashed, so it outlives a deleted account's link.
    actor_ref = CharField(default="")
    #: The hash chain (services/audit_chain.py): the previous line's hash, and this line's over its fields and that one.
    prev_hash = CharField(default="")
    row_hash = CharField(default="")


class AuditChain(BaseModel):
    """The head of the audit log's hash chain: one row, locked by each writer so that the chain never forks."""

    #: The last line chained and its hash: the next line names it as previous.
    last_id = IntegerField(default=0)
    last_hash = CharField(default="")
    #: Lines up to this id are outside the chain (written before it began, or erased after 5 years); the first line
    #: after it names anchor_hash as previous.
    anchor_id = IntegerField(default=0)
    anchor_hash = CharField(default="")
    #: The last day whose final hash was e-mailed to AUDIT_HASH_RECIPIENT.
    published_on = DateField(null=True)


class DataExport(BaseModel):
    """A person's request for a copy of their data (« Télécharger mes données »): a ZIP made by a job, sent as a link."""

    user = ForeignKeyField(User, backref="data_exports", on_delete="CASCADE")
    requested_at = DateTimeField(default=_now)
    #: When the job stored the ZIP, and where; the link (only its SHA-256 kept) works until expires_at.
    prepared_at = DateTimeField(null=True)
    path = CharField(null=True)
    size = IntegerField(default=0)
    token_hash = CharField(null=True, unique=True)
    expires_at = DateTimeField(null=True)
    downloaded_at = DateTimeField(null=True)
    #: Failed tries of the job; past a few, failed_at ends the request (the page offers a new one).
    attempts = IntegerField(default=0)
    failed_at = DateTimeField(null=True)

    @property
    def pending(self):
        return self.prepared_at is None and self.failed_at is None

    def is_expired(self):
        """Has the link's time run out (or its ZIP been erased)?"""
        return self.path is None or self.expires_at is None or self.expires_at <= clock.now()

    @classmethod
    def latest_of(cls, user_id):
        """Return a person's latest request, or None."""
        return cls.select().where(cls.user == user_id).order_by(cls.id.desc()).first()


# The job reads the requests to prepare; retention, the ZIPs whose link expired.
DataExport.add_index(DataExport.index(DataExport.requested_at, name="data_export_pending")
                     .where(DataExport.prepared_at.is_null() & DataExport.failed_at.is_null()))
DataExport.add_index(DataExport.index(DataExport.expires_at, name="data_export_stored")
                     .where(DataExport.path.is_null(False)))


class SavedFilter(BaseModel):
    """A queue's filters and search saved under a name by a staff member, who alone sees it."""

    staff = ForeignKeyField(Staff, backref="saved_filters", on_delete="CASCADE")
    #: The queue's endpoint (« cqc_requests ») and the query string of its list (filters, search, sort).
    endpoint = CharField(max_length=64)
    name = CharField(max_length=100)
    query = TextField()
    created_at = DateTimeField(default=_now)

    class Meta:
        indexes = ((("staff", "endpoint", "name"), True),)

    @classmethod
    def of(cls, staff, endpoint=None):
        """Return a staff member's saved filters (of one queue, if given), by name."""
        query = cls.select().where(cls.staff == staff)
        return query.where(cls.endpoint == endpoint).order_by(cls.name) if endpoint else query.order_by(cls.endpoint, cls.name)


class Throttle(BaseModel):
    """Failures counted per key (an address, an IP) to slow down and lock brute force."""

    key = CharField(unique=True)
    failures = IntegerField(default=0)
    window_start = DateTimeField(default=_now)
    locked_until = DateTimeField(null=True)


class JobRun(BaseModel):
    """One run of a scheduled job: where and when it ran, how many rows it changed, or why it failed."""

    #: The job's name (jobs.registry(), services/scheduler.SCHEDULE).
    job = CharField()
    #: The machine and process that ran it (« web-1:4242 »).
    node = CharField()
    started_at = DateTimeField(default=_now, index=True)
    #: Empty while it runs, and for a run whose process died.
    ended_at = DateTimeField(null=True)
    #: The rows it changed, as the job counts them; empty when it failed.
    changed = IntegerField(null=True)
    #: Why it failed (the exception's type and message); empty when it succeeded.
    error = TextField(default="")

    class Meta:
        indexes = ((("job", "started_at"), False),)

    @classmethod
    def last_success(cls, job):
        """When did this job last end without error (None: not among the runs kept)?"""
        run = (
            cls.select(cls.ended_at)
            .where(cls.job == job, cls.ended_at.is_null(False), cls.error == "")
            .order_by(cls.started_at.desc())
            .first()
        )
        return run.ended_at if run else None


class SchedulerHeartbeat(BaseModel):
    """The one row the scheduler process holding the lock rewrites every few seconds, read by /sante and « Suivi »."""

    #: The machine and process holding the lock (« web-1:4242 »).
    node = CharField()
    #: When that process took the lock.
    since = DateTimeField()
    beat_at = DateTimeField()

    @classmethod
    def current(cls):
        """Return the latest heartbeat, or None when no scheduler ever ran."""
        return cls.get_or_none(cls.id == 1)

    @classmethod
    def beat(cls, node, since):
        """Write that this process holds the lock and is alive, now."""
        now = clock.now()
        (cls.insert(id=1, node=node, since=since, beat_at=now)
         .on_conflict(conflict_target=[cls.id], update={cls.node: node, cls.since: since, cls.beat_at: now})
         .execute())

    def is_fresh(self, max_age):
        """Did the scheduler beat within max_age (a timedelta)?"""
        return clock.now() - self.beat_at <= max_age


MODELS = [
    Procedure,
    StateCount,
    SireneEstablishment,
    Approval,
    Organisation,
    User,
    Invitation,
    Driver,
    CompanyDriver,
    Consent,
    Staff,
    Habilitation,
    Subscription,
    Dossier,
    DossierEvent,
    Anomaly,
    Training,
    Certificate,
    CqcRequest,
    Document,
    Card,
    CardEvent,
    Tariff,
    Payment,
    PaymentNotification,
    InvoiceSequence,
    Invoice,
    InvoiceLine,
    Replacement,
    Contract,
    TachographRequest,
    Token,
    OutboxMessage,
    Notification,
    News,
    AuditLog,
    AuditChain,
    DataExport,
    SavedFilter,
    Throttle,
    JobRun,
    SchedulerHeartbeat,
]


#: Beyond this many rows, a count shown to people reads « plus de 10 000 » (and costs at most that many index entries).
COUNT_CAP = 10_000


#: On PostgreSQL, a query the planner expects to return this many times the cap is not counted at all.
ESTIMATE_MARGIN = 2


def capped_count(query, cap=COUNT_CAP):
    """Return how many rows a query has, up to cap + 1: an exact small count, a bounded cost for a big one.

    On PostgreSQL the planner's estimate comes first (a plan, no rows read): far beyond the cap, the
    answer is cap + 1 without walking the cap's rows; near it or below, the rows are counted.
    """
    rows = query.select(SQL("1")).order_by()
    if "Postgres" in type(db.obj).__name__:
        sql, params = rows.sql()
        plan = db.execute_sql("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
        if plan[0]["Plan"]["Plan Rows"] > ESTIMATE_MARGIN * cap:
            return cap + 1
    return rows.limit(cap + 1).count()


def normalize_email(email):
    """Return the address as the platform stores and compares it: trimmed, lower-cased."""
    return (email or "").strip().lower()


def create_tables():
    """Bring the schema up to date through the migrations (models/migrations), then install the counters' triggers,
    the search indexes and the procedures."""
    from models import migrations

    applied = migrations.upgrade(db.obj, adopt=_adopt)
    counters.install(db)
    search.install(db)
    for code, name in PROCEDURES:
        Procedure.get_or_create(code=code, defaults={"name": name})
    InvoiceSequence.get_or_create(id=1, defaults={"last_number": 0})
    return applied


def _adopt(database):
    """Bring a database made by create_tables() before migrations began up to the first migration's schema."""
    # Tables, then the columns existing tables lack, then the indexes: an index may name a column just added.
    for model in sort_models(MODELS):
        model._schema.create_table(safe=True)
    _add_missing_columns()
    db.create_tables(MODELS, safe=True)


def _add_missing_columns():
    """Add the columns a model declares that an existing database lacks (filled with their default)."""
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(db.obj)
    for model in MODELS:
        table = model._meta.table_name
        present = {column.name for column in db.get_columns(table)}
        missing = [field for field in model._meta.sorted_fields if field.column_name not in present]
        if not missing:
            continue
        with db.atomic():
            migrate(*(migrator.add_column(table, field.column_name, field) for field in missing))
            if any(field.name == "session_key" for field in missing):
                # One random key per row, not the default computed once for all of them.
                postgres = "Postgres" in type(db.obj).__name__
                random = "md5(random()::text || id::text)" if postgres else "lower(hex(randomblob(18)))"
                db.execute_sql(f'UPDATE "{table}" SET session_key = {random}')
            if any(field.name == "decided_at" for field in missing):
                from models import activity

                activity.date_past_decisions(db)
