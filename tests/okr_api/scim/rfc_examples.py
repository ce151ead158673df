"""Example payloads from RFC 7643 and RFC 7644, named by the section they are printed in.

Ids, locations and versions in the RFC examples are the server's to assign; those keys are
kept as the RFC has them, since a server must ignore read-only attributes it receives.
"""

from __future__ import annotations

from typing import Any

# RFC 7643 §8.1: minimal user representation.
RFC7643_8_1_MINIMAL_USER: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "userName": "bjensen@example.com",
    "meta": {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22Z",
        "lastModified": "2011-05-13T04:42:34Z",
        "version": 'W/"3694e05e9dff590"',
        "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
    },
}

# RFC 7643 §8.2: full user representation (password and x509 certificate left out: we never
# store passwords, and the RFC's certificate is elided with "..." in print).
RFC7643_8_2_FULL_USER: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "701984",
    "userName": "bjensen@example.com",
    "name": {
        "formatted": "Ms. Barbara J Jensen, III",
        "familyName": "Jensen",
        "givenName": "Barbara",
        "middleName": "Jane",
        "honorificPrefix": "Ms.",
        "honorificSuffix": "III",
    },
    "displayName": "Babs Jensen",
    "nickName": "Babs",
    "profileUrl": "https://login.example.com/bjensen",
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "addresses": [
        {
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
            "primary": True,
        },
        {
            "type": "home",
            "streetAddress": "456 Hollywood Blvd",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA",
        },
    ],
    "phoneNumbers": [
        {"value": "555-555-5555", "type": "work"},
        {"value": "555-555-4444", "type": "mobile"},
    ],
    "ims": [{"value": "someaimhandle", "type": "aim"}],
    "photos": [
        {"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"},
        {"value": "https://photos.example.com/profilephoto/72930000000Ccne/T", "type": "thumbnail"},
    ],
    "userType": "Employee",
    "title": "Tour Guide",
    "preferredLanguage": "en-US",
    "locale": "en-US",
    "timezone": "America/Los_Angeles",
    "active": True,
}

# RFC 7643 §8.3: enterprise user extension (the manager is re-pointed at a real user).
RFC7643_8_3_ENTERPRISE_EXTENSION: dict[str, Any] = {
    "employeeNumber": "701984",
    "costCenter": "4130",
    "organization": "Universal Studios",
    "division": "Theme Park",
    "department": "Tour Operations",
    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"},
}

# RFC 7643 §8.4: group representation (members filled in by the test with real user ids).
RFC7643_8_4_GROUP: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
    "displayName": "Tour Guides",
    "members": [],
}

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# RFC 7644 §3.5.2.1: add a member to a group.
RFC7644_3_5_2_1_ADD_MEMBER: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [
        {
            "op": "add",
            "path": "members",
            "value": [{"display": "Babs Jensen", "$ref": "{ref}", "value": "{id}"}],
        }
    ],
}

# RFC 7644 §3.5.2.1: add without a path (emails and nickname).
RFC7644_3_5_2_1_ADD_WITHOUT_PATH: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [
        {
            "op": "add",
            "value": {
                "emails": [{"value": "babs@jensen.org", "type": "home"}],
                "nickname": "Babs",
            },
        }
    ],
}

# RFC 7644 §3.5.2.2: remove a single member.
RFC7644_3_5_2_2_REMOVE_ONE_MEMBER: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [{"op": "remove", "path": 'members[value eq "{id}"]'}],
}

# RFC 7644 §3.5.2.2: remove all members.
RFC7644_3_5_2_2_REMOVE_ALL_MEMBERS: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [{"op": "remove", "path": "members"}],
}

# RFC 7644 §3.5.2.2: remove all members and add a new one (replace in two steps).
RFC7644_3_5_2_2_REMOVE_ALL_THEN_ADD: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"display": "James Smith", "value": "{id}"}]},
    ],
}

# RFC 7644 §3.5.2.3: replace all members.
RFC7644_3_5_2_3_REPLACE_MEMBERS: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [
        {"op": "replace", "path": "members", "value": [{"display": "Babs Jensen", "value": "{id}"}]}
    ],
}

# RFC 7644 §3.5.2.3: replace a user's work address via a filtered path.
RFC7644_3_5_2_3_REPLACE_WORK_ADDRESS: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [
        {
            "op": "replace",
            "path": 'addresses[type eq "work"]',
            "value": {
                "type": "work",
                "streetAddress": "911 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "US",
                "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
                "primary": True,
            },
        }
    ],
}

# RFC 7644 §3.5.2.3: replace one sub-attribute of a filtered value.
RFC7644_3_5_2_3_REPLACE_STREET: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [
        {
            "op": "replace",
            "path": 'addresses[type eq "work"].streetAddress',
            "value": "1010 Broadway Ave",
        }
    ],
}

# RFC 7644 §3.5.2.3: replace without a path.
RFC7644_3_5_2_3_REPLACE_WITHOUT_PATH: dict[str, Any] = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [
        {
            "op": "replace",
            "value": {
                "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
                "nickName": "Babs",
            },
        }
    ],
}

# RFC 7644 §3.4.2.2: filter examples whose attributes we support, and what each matches
# among the users of the test (bjensen: the §8.2 user; jsmith: a second, inactive user).
RFC7644_3_4_2_2_FILTERS: list[tuple[str, set[str]]] = [
    ('userName eq "bjensen@example.com"', {"bjensen"}),
    ('name.familyName co "O\'Malley"', set()),
    ('userName sw "J"', {"jsmith"}),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', {"jsmith"}),
    ("name.givenName pr", {"bjensen", "jsmith"}),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', {"bjensen", "jsmith"}),
    ('meta.lastModified ge "2011-05-13T04:42:34Z"', {"bjensen", "jsmith"}),
    ('meta.lastModified lt "2011-05-13T04:42:34Z"', set()),
    ('meta.lastModified le "2011-05-13T04:42:34Z"', set()),
    ('name.givenName pr and userName eq "bjensen@example.com"', {"bjensen"}),
    ('name.givenName pr or name.familyName eq "Smith"', {"bjensen", "jsmith"}),
    ('userName ne "bjensen@example.com"', {"jsmith"}),
    ('emails[type eq "work" and value co "@example.com"]', {"bjensen", "jsmith"}),
    ('emails[type eq "home" and value co "@jensen.org"]', {"bjensen"}),
    (
        'userName eq "bjensen@example.com" and '
        '(emails co "example.com" or emails.value co "example.org")',
        {"bjensen"},
    ),
    ('userName ne "bjensen@example.com" and not (emails co "example.com")', set()),
    ('not (userName eq "bjensen@example.com")', {"jsmith"}),
    ("active eq false", {"jsmith"}),
    ("active eq true", {"bjensen"}),
]

# RFC 7644 §3.4.2.2 examples naming attributes outside our filter whitelist: invalidFilter.
RFC7644_3_4_2_2_UNSUPPORTED_FILTERS = [
    'title pr and userType eq "Employee"',
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
]
