// OAuth 2.0 Form Post Response Mode: send the authorization response to the client at once. Without script, the
// page's "Continue" button does the same.
document.getElementById("response").submit();
